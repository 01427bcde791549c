import type { Knex } from 'knex'

// What a preset knows about its provider, kept per provider so a login or refresh needs no preset at
// hand. Defaults keep existing rows behaving as before: refresh when a refresh token exists, scopes
// joined with spaces, display name from the usual profile fields.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('providers', (t) => {
    t.string('preset', 50)
    t.text('preset_params').notNullable().defaultTo('{}')
    t.string('display_name_path', 200)
    t.string('refresh', 10).notNullable().defaultTo('rotating')
    t.string('scope_delimiter', 1).notNullable().defaultTo(' ')
  })
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('providers', (t) => {
    t.dropColumns('preset', 'preset_params', 'display_name_path', 'refresh', 'scope_delimiter')
  })
}
