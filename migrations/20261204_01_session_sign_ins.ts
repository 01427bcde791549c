import type { Knex } from 'knex'

// A session keeps one provider and `sid` in its own row, but connecting a second OpenID provider
// brings that provider's `sid` too: a back-channel logout from either provider must end it. Every
// (provider, `sid`) a session signed in with is a row here, going with the session. Sessions made
// before keep theirs, copied over.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('session_sign_ins', (t) => {
    t.string('session_id_hash', 64).notNullable().references('sessions.id_hash').onDelete('CASCADE')
    t.integer('provider_id').notNullable()
    t.string('sid_hash', 64).notNullable()
    t.primary(['session_id_hash', 'provider_id'])
    t.index(['provider_id', 'sid_hash'])
  })
  await knex
    .into(knex.raw('?? (??, ??, ??)', ['session_sign_ins', 'session_id_hash', 'provider_id', 'sid_hash']))
    .insert(knex('sessions').select('id_hash', 'provider_id', 'provider_sid_hash').whereNotNull('provider_id').whereNotNull('provider_sid_hash'))
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('session_sign_ins')
}
