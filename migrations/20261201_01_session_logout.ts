import type { Knex } from 'knex'

// Back-channel logout (OpenID Connect Back-Channel Logout 1.0) names a session by the provider's
// `sid`: each session keeps the provider it signed in with and the SHA-256 of that `sid` (only ever
// compared, so a dump does not hold it). Logout tokens already used are kept, by a hash of provider
// and `jti`, until they would be refused as too old anyway.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('sessions', (t) => {
    t.integer('provider_id')
    t.string('provider_sid_hash', 64)
    t.index(['provider_id', 'provider_sid_hash'])
  })
  await knex.schema.createTable('logout_tokens', (t) => {
    t.string('id_hash', 64).primary()
    t.bigInteger('expires_at').notNullable()
    t.index(['expires_at'])
  })
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('logout_tokens')
  await knex.schema.alterTable('sessions', (t) => {
    t.dropIndex(['provider_id', 'provider_sid_hash'])
    t.dropColumns('provider_id', 'provider_sid_hash')
  })
}
