/**
 * Every encrypted column, by table: the stores encrypt these and only these, and `keys rotate`
 * re-encrypts them. A value's authenticated data is its `table.column` name, so a value copied into
 * another column fails to decrypt instead of being misread.
 */
export const ENCRYPTED_COLUMNS = {
  providers: ['client_id', 'client_secret'],
  accounts: ['access_token', 'token_secret', 'refresh_token', 'id_token'],
  login_flows: ['data'],
} as const satisfies Record<string, readonly string[]>

export type EncryptedTable = keyof typeof ENCRYPTED_COLUMNS
export type EncryptedColumn<T extends EncryptedTable> = (typeof ENCRYPTED_COLUMNS)[T][number]

/** The name a column's values are encrypted under (their authenticated data). */
export function encryptedField<T extends EncryptedTable>(table: T, column: EncryptedColumn<T>): string {
  return `${table}.${column}`
}
