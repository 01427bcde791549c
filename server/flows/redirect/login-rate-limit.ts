import type { Next } from 'koa'
import { isIPv4, isIPv6 } from 'node:net'
import { hashId } from '../../crypto/random.ts'
import { AllAccessError } from '../../errors.ts'
import type { LoginContext } from '../login-state.ts'

export interface LoginLimits {
  /** Login starts one client address may make per minute (a burst of as many, then one every 60/n s); 0 turns the limit off. */
  perAddressPerMinute: number
  /** Logins started and not finished, all addresses together, beyond which new starts wait. */
  maxPendingLogins: number
}

export const DEFAULT_LOGIN_LIMITS: LoginLimits = { perAddressPerMinute: 30, maxPendingLogins: 10_000 }

/** Addresses remembered at most; the oldest go first (a flood of addresses must not grow memory). */
const MAX_TRACKED_ADDRESSES = 100_000

/**
 * A token bucket per client address, in this process. Each login start writes a row and, on
 * OAuth 1.0a, spends the app's quota at the provider with a signed request: an anonymous caller
 * must not do that as often as it likes.
 */
export class LoginRateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>()

  constructor(
    private readonly perMinute: number,
    private readonly maxTracked = MAX_TRACKED_ADDRESSES,
  ) {}

  /** Takes one start for `address`: 0 when allowed, else the seconds until the next one is. */
  take(address: string, now = Date.now()): number {
    if (this.perMinute <= 0) return 0
    const refillPerMs = this.perMinute / 60_000
    const bucket = this.buckets.get(address) ?? { tokens: this.perMinute, at: now }
    this.buckets.delete(address)
    // A clock set back (NTP stepping it) would make the elapsed time negative: a debt of as many
    // starts, which held every recent client back for as long as the clock went back.
    bucket.tokens = Math.min(this.perMinute, bucket.tokens + Math.max(0, now - bucket.at) * refillPerMs)
    bucket.at = now
    this.buckets.set(address, bucket)
    if (this.buckets.size > this.maxTracked) {
      // The oldest tenth at once: deleted one per start, they leave holes at the front of V8's Map that
      // each later keys().next() walks again, and a flood of new addresses made every start ~50 µs of
      // the event loop (with pauses of 60 ms) instead of under one.
      let drop = Math.ceil(this.maxTracked / 10)
      for (const key of this.buckets.keys()) {
        if (drop-- === 0) break
        this.buckets.delete(key)
      }
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1
      return 0
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / refillPerMs / 1000))
  }
}

/** The leading bits of an IPv6 address that name one client: a /56 is what one customer is usually given. */
const IPV6_CLIENT_PREFIX_BITS = 56

/**
 * Longest name kept as it is. A client that writes its own `X-Forwarded-For` (app.proxy without
 * maxIpsCount) names itself anew on each start, and each name is kept in the limiter: at the
 * header's 16 KB apiece, the 100,000 addresses remembered could hold 1.6 GB. A longer one is kept as its hash.
 */
const MAX_NAME_LENGTH = 64

/**
 * The client a login start is counted against. An IPv4 address is one client (written IPv4-mapped
 * too, in any spelling, or translated by NAT64); an IPv6 host holds a whole network of addresses and can start each login
 * from a new one, so its /56 is. Anything else (a name from a trusted proxy's header) is counted as it is.
 */
export function clientKey(address: string): string {
  // Some proxies write the client's port too (Azure Application Gateway: `IP:port`, `[IPv6]:port`):
  // kept, each new connection of one client would be a new client, with a limit and a share of its own.
  const host = /^\[([^\]]+)\](?::\d+)?$/.exec(address)?.[1] ?? /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(address)?.[1] ?? address
  if (isIPv4(host)) return host
  const bare = host.split('%', 1)[0]
  if (!isIPv6(bare)) return address.length > MAX_NAME_LENGTH ? `sha256:${hashId(address)}` : address
  const groups = ipv6Groups(bare)
  // IPv4-mapped however written (`::ffff:c633:6407`, `0:0:0:0:0:ffff:…`): by its /56 every IPv4
  // client so written would be one and the same client, of the all-zero network.
  const ipv4Mapped = groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff
  // The NAT64 well-known prefix (RFC 6052): a translator in front of an IPv6-only server writes every
  // IPv4 client into this one /96, so by its /56 the whole IPv4 internet shared one client's limit.
  const nat64 = groups[0] === 0x64 && groups[1] === 0xff9b && groups.slice(2, 6).every((group) => group === 0)
  if (ipv4Mapped || nat64) return [groups[6] >> 8, groups[6] & 255, groups[7] >> 8, groups[7] & 255].join('.')
  const kept: string[] = []
  for (let bits = 0; bits < IPV6_CLIENT_PREFIX_BITS; bits += 16) {
    const group = groups[bits / 16]
    const keep = Math.min(16, IPV6_CLIENT_PREFIX_BITS - bits)
    kept.push(((group >> (16 - keep)) << (16 - keep)).toString(16))
  }
  return `${kept.join(':')}::/${IPV6_CLIENT_PREFIX_BITS}`
}

/** The eight 16-bit groups of a valid IPv6 address (`::` expanded, an IPv4 tail read as two groups). */
function ipv6Groups(address: string): number[] {
  const parse = (part: string) =>
    part === ''
      ? []
      : part.split(':').flatMap((piece) => {
          if (!piece.includes('.')) return [parseInt(piece, 16)]
          const [a, b, c, d] = piece.split('.').map(Number)
          return [(a << 8) | b, (c << 8) | d]
        })
  const [head, tail] = address.split('::')
  const first = parse(head)
  const last = tail === undefined ? [] : parse(tail)
  return [...first, ...Array<number>(8 - first.length - last.length).fill(0), ...last]
}

/** How long a database count of pending logins is trusted, counted forward by this instance's starts. */
const PENDING_COUNT_MS = 1000

/**
 * Logins started and not finished, all instances together. Counting them in the database on every
 * start would add a statement to each login; the count is taken at most once a second and
 * carried forward by this instance's own starts in between. A refusal always rests on a fresh count.
 */
export class PendingLogins {
  private known = 0
  private countedAt = -Infinity

  constructor(
    private readonly count: () => Promise<number>,
    private readonly max: number,
  ) {}

  /** Whether no further login may start now. */
  async full(now = Date.now()): Promise<boolean> {
    // A count from the future (the clock since set back) would be trusted for as long as the clock went back.
    if (now - this.countedAt >= PENDING_COUNT_MS || now < this.countedAt || this.known >= this.max) {
      this.known = await this.count()
      this.countedAt = now
    }
    return this.known >= this.max
  }

  started(): void {
    this.known++
  }
}

/** The pending-login cap's `429`: nobody holds more than a fair share to give up. */
export function noRoom(ctx: LoginContext): AllAccessError {
  ctx.set('Retry-After', '60')
  return new AllAccessError('rate_limited', { detail: `${ctx.state.runtime.loginLimits.maxPendingLogins} logins pending, none of them beyond a fair share of one client` })
}

/** Host apps already told (below), once each. */
const toldOfClientWrittenAddress = new WeakSet<object>()

/**
 * A host app with Koa's `app.proxy` and no `app.maxIpsCount` (what Koa's own documentation shows)
 * gives as `ctx.ip` the first `X-Forwarded-For` address, which the client writes itself unless a
 * proxy overwrites the header: each start could then come from an address of its own, past the
 * limit and, at the pending-login cap, past the fair share that keeps others signing in. Nothing
 * here can tell how many proxies to believe, so the operator is told, once; `serve` sets both.
 */
function warnOfClientWrittenAddress(ctx: LoginContext): void {
  const { app } = ctx
  if (!app.proxy || app.maxIpsCount > 0 || toldOfClientWrittenAddress.has(app)) return
  toldOfClientWrittenAddress.add(app)
  ctx.state.runtime.log.error(
    `error login limits count clients by ctx.ip, which with app.proxy and no app.maxIpsCount is the first ${app.proxyIpHeader} address, one the client may write: set app.maxIpsCount to the number of proxies in front`,
  )
}

/** Host apps already told (below), once each. */
const toldOfProxyAddress = new WeakSet<object>()

/**
 * Behind a proxy with `app.proxy` off (Koa's default), `ctx.ip` is the proxy's address for every
 * client: the whole site shares one client's login limit, which any one client can use up, and
 * nobody signs in until the minute is over. A start carrying the proxy's header says so, once; with
 * no proxy in front, the header came from the client (or a forward proxy of its own) instead.
 */
function warnOfProxyAddress(ctx: LoginContext): void {
  const { app } = ctx
  if (app.proxy || toldOfProxyAddress.has(app) || !ctx.get(app.proxyIpHeader)) return
  toldOfProxyAddress.add(app)
  ctx.state.runtime.log.error(
    `error login limits count clients by ctx.ip, and a login start came with ${app.proxyIpHeader} while app.proxy is off: if a proxy in front wrote it, every client counts as the proxy's address ${ctx.ip}, and one client's starts use up everyone's limit; set app.proxy and app.maxIpsCount to the number of proxies in front (all-access serve: ALLACCESS_TRUST_PROXY)`,
  )
}

/** `429 rate_limited` with `Retry-After` for a client address over its limit, or when too many logins are pending. */
export async function limitLoginStarts(ctx: LoginContext, next: Next): Promise<void> {
  const { runtime } = ctx.state
  warnOfClientWrittenAddress(ctx)
  warnOfProxyAddress(ctx)
  const client = clientKey(ctx.ip)
  const wait = runtime.loginLimiter.take(client)
  if (wait > 0) {
    ctx.set('Retry-After', String(wait))
    throw new AllAccessError('rate_limited', { detail: `login starts from ${ctx.ip} over ${runtime.loginLimits.perAddressPerMinute} a minute` })
  }
  if (!(await runtime.pendingLogins.full())) runtime.pendingLogins.started()
  else {
    // Taken only once the flow is ready (startFlow): a start that fails before, a request token
    // refused, would otherwise push out somebody's login for nothing and at no cost to its client.
    const room = await runtime.store.loginFlows.roomFor(client)
    if (!room) throw noRoom(ctx)
    ctx.state.login.room = room
  }
  ctx.state.login.startedBy = client
  await next()
}
