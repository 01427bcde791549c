import type { Knex } from 'knex'

// Times are epoch milliseconds in BIGINT columns: the same on SQLite and PostgreSQL, and cheap to compare.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('providers', (t) => {
    t.increments('id').primary()
    t.string('name', 50).notNullable().unique()
    t.string('display_name', 100).notNullable()
    t.string('protocol', 10).notNullable()
    t.text('request_token_url')
    t.text('authorization_url')
    t.text('access_token_url')
    t.text('profile_url')
    t.text('api_base_url')
    t.text('issuer')
    t.text('revocation_url')
    t.text('scope')
    t.string('identifier_path', 200).notNullable()
    t.text('client_id')
    t.text('client_secret')
    t.boolean('pkce').notNullable().defaultTo(true)
    t.string('token_auth_method', 30).notNullable().defaultTo('client_secret_basic')
    t.string('token_placement', 10).notNullable().defaultTo('header')
    t.text('extra_authorization_params').notNullable().defaultTo('{}')
    t.bigInteger('created_at').notNullable()
    t.bigInteger('updated_at').notNullable()
  })

  await knex.schema.createTable('users', (t) => {
    t.increments('id').primary()
    t.string('display_name', 200)
    t.bigInteger('created_at').notNullable()
    t.bigInteger('updated_at').notNullable()
  })

  await knex.schema.createTable('accounts', (t) => {
    t.increments('id').primary()
    t.integer('provider_id').notNullable().references('providers.id').onDelete('CASCADE')
    t.string('identifier', 255).notNullable()
    t.integer('user_id').notNullable().references('users.id').onDelete('CASCADE')
    t.string('display_name', 200)
    t.text('access_token')
    t.text('token_secret')
    t.text('refresh_token')
    t.text('id_token')
    t.bigInteger('expires_at')
    t.text('scope')
    t.string('status', 20).notNullable().defaultTo('active')
    // A lease, not a lock held by a connection: an instance that dies mid-refresh blocks others only until it ends.
    t.string('refresh_lease_owner', 64)
    t.bigInteger('refresh_lease_until')
    t.bigInteger('created_at').notNullable()
    t.bigInteger('updated_at').notNullable()
    t.unique(['provider_id', 'identifier'])
    t.index(['user_id', 'provider_id'])
  })

  await knex.schema.createTable('sessions', (t) => {
    t.string('id_hash', 64).primary()
    t.integer('user_id').notNullable().references('users.id').onDelete('CASCADE')
    t.bigInteger('created_at').notNullable()
    t.bigInteger('idle_expires_at').notNullable()
    t.bigInteger('absolute_expires_at').notNullable()
    t.index(['user_id'])
    t.index(['idle_expires_at'])
  })

  await knex.schema.createTable('login_flows', (t) => {
    t.string('id_hash', 64).primary()
    t.integer('provider_id').notNullable().references('providers.id').onDelete('CASCADE')
    t.text('data').notNullable()
    t.bigInteger('created_at').notNullable()
    t.bigInteger('expires_at').notNullable()
    t.index(['expires_at'])
  })
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['login_flows', 'sessions', 'accounts', 'users', 'providers']) {
    await knex.schema.dropTableIfExists(table)
  }
}
