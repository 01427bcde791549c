import type { Knex } from 'knex'

// A login made while signed in replaces the session with one under a new id. A proxied call begun
// with the old id is judged again before it reaches the provider, and must tell a session replaced
// by its own user's login (it goes on) from one ended (it stops): each session keeps the hash of
// the id it replaced.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('sessions', (t) => {
    t.string('replaces_id_hash', 64)
    t.index(['replaces_id_hash'])
  })
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('sessions', (t) => {
    t.dropIndex(['replaces_id_hash'])
    t.dropColumn('replaces_id_hash')
  })
}
