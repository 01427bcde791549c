import type { Knex } from 'knex'

// A back-channel logout token without `sid` names the user by the ID token's `sub`, which is not
// the account's identifier when the provider's identifier path reads another claim (an email, a
// `user_id`). Each OpenID Connect account keeps the SHA-256 of the `sub` it last signed in with.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('accounts', (t) => {
    t.string('subject_hash', 64)
    t.index(['provider_id', 'subject_hash'])
  })
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('accounts', (t) => {
    t.dropIndex(['provider_id', 'subject_hash'])
    t.dropColumn('subject_hash')
  })
}
