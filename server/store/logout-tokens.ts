import type { Knex } from 'knex'
import { hashId } from '../crypto/random.ts'
import { isUniqueViolation } from './database.ts'

/**
 * The logout tokens a provider has already sent (OpenID Connect Back-Channel Logout 1.0 §2.6: a
 * `jti` is used once). Each is kept, by the hash of provider and `jti`, until the moment it would be
 * refused as too old anyway; then `removeExpired` may drop it.
 */
export class LogoutTokenStore {
  constructor(private readonly db: Knex) {}

  /** Records a token's `jti`; false when that provider's `jti` was seen before (a replay). */
  async remember(providerId: number, jti: string, keepUntil: number, trx: Knex = this.db): Promise<boolean> {
    try {
      // Rounded up: a token's iat and exp may have fractions of a second (RFC 7519 NumericDate), and
      // PostgreSQL refuses a fraction in a BIGINT.
      await trx('logout_tokens').insert({ id_hash: hashId(`${providerId}:${jti}`), expires_at: Math.ceil(keepUntil) })
      return true
    } catch (error) {
      if (isUniqueViolation(error)) return false
      throw error
    }
  }

  async removeExpired(now = Date.now()): Promise<number> {
    return this.db('logout_tokens').where('expires_at', '<=', now).delete()
  }
}
