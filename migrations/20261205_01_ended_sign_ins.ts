import type { Knex } from 'knex'

// A back-channel logout by `sid` ends the sessions that signed in with it, but a login carrying
// that `sid` may be between its token exchange and its commit as the logout comes, and commit after
// it. Each (provider, SHA-256 of `sid`) a logout ended is kept here, with when the provider ended
// it, until no such login can still commit; a login with a `sid` looks here first. Going with the
// provider, as its login flows do.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('ended_sign_ins', (t) => {
    t.integer('provider_id').notNullable().references('providers.id').onDelete('CASCADE')
    t.string('sid_hash', 64).notNullable()
    t.bigInteger('ended_at').notNullable()
    t.bigInteger('expires_at').notNullable()
    t.primary(['provider_id', 'sid_hash'])
    t.index(['expires_at'])
  })
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('ended_sign_ins')
}
