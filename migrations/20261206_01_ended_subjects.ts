import type { Knex } from 'knex'

// A back-channel logout with only `sub` ends every session of that user, but a login of that user
// may be between its token exchange and its commit as the logout comes, and commit after it. As
// ended_sign_ins does for `sid`: each (provider, SHA-256 of `sub`) is kept, with when the provider
// ended the user's sessions, until no such login can still commit. A table of its own, not a
// column of ended_sign_ins: a new table leaves the instances still running the old code working
// while the new ones start.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('ended_subjects', (t) => {
    t.integer('provider_id').notNullable().references('providers.id').onDelete('CASCADE')
    t.string('sub_hash', 64).notNullable()
    t.bigInteger('ended_at').notNullable()
    t.bigInteger('expires_at').notNullable()
    t.primary(['provider_id', 'sub_hash'])
    t.index(['expires_at'])
  })
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('ended_subjects')
}
