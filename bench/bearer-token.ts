// The bench provider's access tokens, `user.expiry.mac`: the provider issues them and the soak's API
// (bench/upstream.ts) checks them with the same key, as a resource server checks a signed token.
import { createHmac, timingSafeEqual } from 'node:crypto'

export const USER = /^[\w.-]{1,100}$/

const mac = (key: Buffer, text: string) => createHmac('sha256', key).update(text).digest('base64url')

export function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

export function accessToken(key: Buffer, user: string, expiresAt: number): string {
  const claims = `${Buffer.from(user).toString('base64url')}.${Math.floor(expiresAt / 1000)}`
  return `${claims}.${mac(key, claims)}`
}

/** The user a bearer token names, when its MAC holds and it has not expired. */
export function tokenUser(authorization: string | undefined, key: Buffer, now = Date.now()): string | undefined {
  const [, claims = '', encoded = '', expiry = '', tag = ''] = /^Bearer (([\w-]+)\.(\d+))\.([\w-]+)$/.exec(authorization ?? '') ?? []
  const user = Buffer.from(encoded, 'base64url').toString('utf8')
  return USER.test(user) && sameText(tag, mac(key, claims)) && Number(expiry) * 1000 > now ? user : undefined
}
