import type { Knex } from 'knex'

// Each pending login names the client that started it (a hash of its address, or of its IPv6 /56),
// so that once the pending logins reach their cap the client holding the most gives up its oldest:
// a few addresses can then no longer fill the cap and shut everybody else out of signing in.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('login_flows', (t) => {
    t.string('client_hash', 64)
    t.index(['client_hash', 'expires_at'])
  })
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('login_flows', (t) => {
    t.dropIndex(['client_hash', 'expires_at'])
    t.dropColumn('client_hash')
  })
}
