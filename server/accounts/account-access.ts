import { randomBytes } from 'node:crypto'
import { isEnabled, type ProviderConfig } from '../../shared/provider.ts'
import { getClient, type ClientOverrides } from '../clients/index.ts'
import { DEFAULT_API_ANSWER_LIMIT, type BaseOAuthClient, type RejectionEvidence } from '../clients/base.ts'
import { OAuthClient } from '../clients/oauth1.ts'
import { OAuth2Client } from '../clients/oauth2.ts'
import type { ApiRequestOptions, ApiResponse } from '../clients/types.ts'
import { DEFAULT_TIMEOUT_MS } from '../clients/provider-http.ts'
import { timedOut } from '../clients/provider-transport.ts'
import { AllAccessError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { NO_REFRESH_METRICS, type RefreshMetrics } from '../metrics.ts'
import { withTimeout } from '../time-limit.ts'
import type { AccountRecord, UnlinkedTokens } from '../store/accounts.ts'
import type { Store } from '../store/index.ts'

/** Refresh this long before the provider's expiry, so a token never dies in flight. */
export const REFRESH_MARGIN_MS = 60_000

/**
 * Whether a token is due for a refresh before a call: expired, or within {@link REFRESH_MARGIN_MS}
 * of its expiry, or within half its life for one granted for less than twice that (its life counted
 * from when it was stored). Against the whole margin, a token granted for a minute or less, by a
 * careless provider or a hostile one (`expires_in: 1`), was refreshed before every call.
 */
function dueForRefresh(record: AccountRecord, now: number): boolean {
  if (record.expiresAt === null) return false
  const left = record.expiresAt - now
  return left <= 0 || left < Math.min(REFRESH_MARGIN_MS, (record.expiresAt - record.updatedAt) / 2)
}

/** One call made with an account's token, as the proxy or `apiClient` sends it: what {@link AccountAccessService.call} needs. */
export interface AccountCall<R> {
  send(client: BaseOAuthClient, record: AccountRecord): Promise<R>
  /** What the client judges a refusal of the token by. */
  evidence(answer: R): RejectionEvidence
  /** Lets go of an answer that will not be passed on. */
  discard(answer: R): Promise<void>
  /** False when the request body cannot be sent twice (a streamed upload). */
  retryable: boolean
  /** The id of the request the call is made for, which the lines it logs name; none outside a request. */
  requestId?: string
}

/** ` req=<id>`, for a line about a request, or nothing: how a line names the request it is about. */
const reqNote = (requestId: string | undefined) => (requestId ? ` req=${requestId}` : '')

/** An account with its API client (django-all-access's `AccountAccess.api_client`). */
export interface AccountAccess extends AccountRecord {
  apiClient: AccountApiClient
}

export interface RefreshSettings {
  /** How long one instance may hold an account's refresh lease; a crashed holder blocks others at most this long. */
  leaseMs: number
  /** How long a caller waits for another holder's refresh before giving up. */
  waitMs: number
}

export const DEFAULT_REFRESH_SETTINGS: RefreshSettings = { leaseMs: 15_000, waitMs: 20_000 }

/**
 * How long a disconnect waits for the provider to revoke the account's tokens before it answers.
 * Each revocation call may take 30 s, and a disconnect makes two or three (Strava and Garmin
 * refresh first): a provider that does not answer held the user's click for a minute or more,
 * past a load balancer's 60 s, whose 504 told the app that an account already gone was kept.
 */
export const DISCONNECT_REVOCATION_WAIT_MS = 10_000

/** The token fields of an account handed to host code that printing or serialising it leaves out. */
const HIDDEN_TOKEN_FIELDS = ['accessToken', 'tokenSecret', 'refreshToken', 'idToken'] as const satisfies readonly (keyof AccountRecord)[]

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Keeps accounts' tokens usable: refreshes an OAuth 2.0 token that is about to expire or was
 * rejected, exactly once however many requests (in this process or in other instances on the same
 * database) need it, and marks the account `reauth_required` when the provider will not refresh.
 */
export class AccountAccessService {
  /** One refresh in flight per account in this process; the database lease covers other processes. */
  private readonly inFlight = new Map<number, Promise<AccountRecord>>()
  /**
   * Refreshes still out, holding the lease: close() lets them store what they get, whether their
   * call still waits (a drain that ran out, an upload's refresh) or stopped waiting.
   */
  private readonly refreshesOut = new Set<Promise<void>>()
  /** Disconnects' revocations that went on after their answer: close() lets them end, as it does refreshes. */
  private readonly revocationsOut = new Set<Promise<void>>()
  private readonly instanceId = randomBytes(12).toString('hex')
  /**
   * Numbers each refresh's lease owner within the instance: a refresh its call stopped waiting for
   * is still out when the next may take the lease (a login with a new grant freed it), and under
   * the instance's name alone it would renew that lease and store the old grant's tokens in it.
   */
  private leasesTaken = 0

  constructor(
    private readonly store: Store,
    private readonly clients: ClientOverrides,
    private readonly log: Logger,
    readonly refresh: RefreshSettings = DEFAULT_REFRESH_SETTINGS,
    /** The cap on answers to `apiClient.request`, in bytes. */
    readonly apiMaxBody: number = DEFAULT_API_ANSWER_LIMIT,
    private readonly metrics: RefreshMetrics = NO_REFRESH_METRICS,
    /** The callback URL of a provider's logins, which a refresh names again where the provider wants it (Yahoo). */
    private readonly callbackUrl: (provider: ProviderConfig) => string | undefined = () => undefined,
  ) {}

  /** `requestId`: the request the account is handed out in (a login's, to `onLogin`), which its calls' log lines name. */
  withApiClient(record: AccountRecord, requestId?: string): AccountAccess {
    const account = Object.assign(Object.create(null) as object, record, { apiClient: new AccountApiClient(this, record.id, requestId) }) as AccountAccess
    // Readable, but left out of what host code prints, serialises or copies: `console.log(account)`
    // in a hook, or an account sent to the SPA as JSON, must not carry a token out with it.
    for (const name of HIDDEN_TOKEN_FIELDS) Object.defineProperty(account, name, { enumerable: false })
    return account
  }

  /** The account a user has for a provider, with its API client (what host code calls at any time). */
  async forUser(userId: number, providerName: string): Promise<AccountAccess | null> {
    const record = await this.store.accounts.findForUser(userId, providerName)
    return record ? this.withApiClient(record) : null
  }

  /**
   * The account's provider, as long as it is enabled: one disabled since the account was linked (its
   * client id or secret taken away) is `unknown_provider`, as the proxy answers, so that neither its
   * API is called nor a refresh sent without the client's credentials (which a provider refuses, and
   * the account would need a new login once the provider is enabled again).
   */
  async provider(record: AccountRecord): Promise<ProviderConfig> {
    const provider = await this.store.providers.get(record.provider)
    if (!provider || !isEnabled(provider)) throw new AllAccessError('unknown_provider')
    return provider
  }

  client(provider: ProviderConfig, record: AccountRecord): BaseOAuthClient {
    return getClient(provider, { accessToken: record.accessToken, tokenSecret: record.tokenSecret }, this.clients)
  }

  /**
   * Revokes an account's tokens at the provider (RFC 7009, or the provider's own way), the refresh
   * token first; an OAuth 1.0a access token with its secret, where the provider's client has a way.
   * A refusal or a failure is logged, never thrown: the tokens are let go either way. `note` follows
   * the log lines (the request id).
   */
  async revokeTokens(client: BaseOAuthClient, tokens: UnlinkedTokens, note = ''): Promise<void> {
    if (!(client instanceof OAuth2Client || client instanceof OAuthClient)) return
    const revocations: [string | null, 'refresh_token' | 'access_token'][] = [
      // OAuth 1.0a knows no refresh token: its access token and secret are the whole grant.
      [client instanceof OAuth2Client ? tokens.refreshToken : null, 'refresh_token'],
      [tokens.accessToken, 'access_token'],
    ]
    for (const [token, hint] of revocations) {
      if (!token) continue
      try {
        const revoked = client instanceof OAuth2Client ? await client.revokeToken(token, hint) : await client.revokeToken({ accessToken: token, tokenSecret: tokens.tokenSecret })
        if (!revoked && (await client.revocationEndpoint())) this.log.info(`revocation of an account ${tokens.id} ${hint} was refused${note}`)
      } catch (error) {
        this.log.error(`error${note} revocation failed for account ${tokens.id}: ${(error as Error).message}`)
      }
    }
  }

  /**
   * {@link revokeTokens} for a disconnect, waited for at most {@link DISCONNECT_REVOCATION_WAIT_MS}:
   * the account is gone already, so a slow provider delays only its own revocation, which goes on
   * after the answer (each call within its own time limit) rather than being cut off, and leaving
   * the tokens valid.
   */
  async revokeUnlinked(client: BaseOAuthClient, tokens: UnlinkedTokens, note = ''): Promise<void> {
    const revocation = this.revokeTokens(client, tokens, note).catch((error: unknown) => this.log.error(`error${note} revocation failed for account ${tokens.id}: ${(error as Error).message}`))
    this.revocationsOut.add(revocation)
    void revocation.then(() => this.revocationsOut.delete(revocation))
    // The revocation never rejects (its failure is logged above): a rejection here is the wait running out.
    const ended = await withTimeout(revocation, DISCONNECT_REVOCATION_WAIT_MS).then(
      () => true,
      () => false,
    )
    if (!ended) this.log.info(`account ${tokens.id}${note}: the provider had not answered its revocation in ${DISCONNECT_REVOCATION_WAIT_MS} ms; it goes on after the disconnect's answer`)
  }

  /** Whether a token can be refreshed at all: OAuth 2.0 with a refresh token. */
  canRefresh(client: BaseOAuthClient, record: AccountRecord): boolean {
    return client instanceof OAuth2Client && client.canRefresh(record.refreshToken)
  }

  /**
   * The account ready for a call: usable status and a token that is not about to expire. Providers
   * without expiry or refresh token are used as they are.
   */
  async usable(
    account: number | AccountRecord,
    knownProvider?: ProviderConfig,
    requestId?: string,
  ): Promise<{ record: AccountRecord; provider: ProviderConfig; client: BaseOAuthClient }> {
    // Callers that just read the account and its provider pass them in: one request, one read each.
    let record = typeof account === 'number' ? await this.store.accounts.get(account) : account
    if (!record) throw new AllAccessError('account_not_connected')
    if (record.status !== 'active') throw new AllAccessError('reauth_required')
    const provider = knownProvider ?? (await this.provider(record))
    let client = this.client(provider, record)
    if (dueForRefresh(record, Date.now()) && this.canRefresh(client, record)) {
      record = await this.refreshOnce(record, requestId)
      client = this.client(provider, record)
    }
    return { record, provider, client }
  }

  /**
   * The one policy of every call made with an account's token, through the proxy or `apiClient`:
   * refresh first when the token is about to expire; when the provider refuses the token, refresh
   * once (for everybody) and retry once (unless the body cannot be sent twice), passing the retry's
   * answer on whatever it is; when the token cannot be refreshed, or the provider refuses the
   * refresh, the account becomes `reauth_required` and the call throws it.
   */
  async call<R>(account: number | AccountRecord, knownProvider: ProviderConfig | undefined, call: AccountCall<R>): Promise<R> {
    const { record, provider, client } = await this.usable(account, knownProvider, call.requestId)
    const req = reqNote(call.requestId)
    const first = await call.send(client, record)
    let rejected: boolean
    try {
      rejected = await client.tokenRejected(call.evidence(first))
    } catch (error) {
      // A host client's judge that fails leaves the answer to nobody: let go of now, it held the
      // provider's connection (and the call's time limit) until the browser's answer closed.
      await call.discard(first)
      throw error
    }
    if (!rejected) return first
    if (!this.canRefresh(client, record)) {
      await call.discard(first)
      // Only the token this call used: a login that wrote new ones meanwhile keeps the account usable.
      if (await this.store.accounts.tokenRefused(record.id, record.updatedAt)) this.log.info(`account ${record.id} needs a new login${req}: provider rejected the token and it cannot be refreshed`)
      // Disconnected while the call was out (its token revoked, most likely by that disconnect):
      // answered as a refresh refused then is, so that the app offers to connect the provider, not
      // to sign in again to an account that is gone.
      else if (!(await this.store.accounts.get(record.id))) throw new AllAccessError('account_not_connected')
      throw new AllAccessError('reauth_required')
    }
    if (!call.retryable) {
      // A body that cannot be sent twice: answered as the provider answered it at once, while the
      // token is renewed for the account's next calls (else they would all meet the same refusal).
      // Not awaited: a refresh may wait for another instance's lease longer than the answer may stay open.
      this.refreshOnce(record, call.requestId).catch((error: unknown) => this.log.info(`account ${record.id}${req}: refresh after a refused upload failed (${(error as Error).message})`))
      return first
    }
    await call.discard(first)
    const renewed = await this.refreshOnce(record, call.requestId)
    return call.send(this.client(provider, renewed), renewed)
  }

  /**
   * `requestId`: the request whose call starts the refresh. Its lines name that request, also once
   * it stopped waiting, and when calls of other requests come to wait for the same refresh.
   */
  private refreshOnce(stale: AccountRecord, requestId: string | undefined): Promise<AccountRecord> {
    const running = this.inFlight.get(stale.id)
    if (running) return running
    const refresh = this.refreshWithLease(stale, reqNote(requestId)).finally(() => this.inFlight.delete(stale.id))
    this.inFlight.set(stale.id, refresh)
    return refresh
  }

  /**
   * Takes the account's lease in the database, re-reads the account (another instance may have
   * refreshed meanwhile: then its tokens are used), refreshes, and stores the new tokens, rotated
   * refresh token included, in the same write that frees the lease.
   */
  private async refreshWithLease(stale: AccountRecord, req: string): Promise<AccountRecord> {
    const deadline = Date.now() + this.refresh.waitMs
    const owner = `${this.instanceId}.${++this.leasesTaken}`
    for (let attempt = 0; ; attempt++) {
      const taken = await this.store.accounts.takeRefreshLease(stale.id, owner, this.refresh.leaseMs)
      const current = await this.store.accounts.get(stale.id)
      if (!current) throw new AllAccessError('account_not_connected')
      if (current.status !== 'active') {
        if (taken) await this.store.accounts.releaseRefreshLease(stale.id, owner)
        throw new AllAccessError('reauth_required')
      }
      if (current.accessToken !== stale.accessToken) {
        if (taken) await this.store.accounts.releaseRefreshLease(stale.id, owner)
        return current
      }
      if (taken) return this.refreshRenewingLease(current, owner, req)
      if (Date.now() > deadline) throw new AllAccessError('upstream_timeout', { detail: `waited ${this.refresh.waitMs} ms for another instance's refresh` })
      await sleep(Math.min(50 + attempt * 25, 250))
    }
  }

  /**
   * Refreshes while renewing the lease: discovery, the token request and the provider's keys for a
   * refreshed ID token may together outlast one lease, and past its end another instance would send
   * again the refresh token this one has spent (rotation: refused, and the account lost its login).
   * A holder that dies stops renewing, and others take over once its last lease ends.
   */
  private refreshRenewingLease(current: AccountRecord, owner: string, req: string): Promise<AccountRecord> {
    const renew = () => this.store.accounts.renewRefreshLease(current.id, owner, this.refresh.leaseMs).catch((error: unknown) => this.log.info(`account ${current.id}${req}: refresh lease not renewed (${(error as Error).message})`))
    // A third of the lease, and no more often than the database can be asked (a lease of a few ms is a test's).
    const renewal = setInterval(renew, Math.max(50, this.refresh.leaseMs / 3)).unref()
    return this.waitedFor(this.refreshHoldingLease(current, owner, req).finally(() => clearInterval(renewal)), current.id, req)
  }

  /** How long a call waits for its own instance's refresh: within one lease, for the holder to answer before another could take over. */
  private get callerWaitMs(): number {
    return Math.max(1000, this.refresh.leaseMs - 2000)
  }

  /**
   * The refresh, or `upstream_timeout` once its caller has waited {@link callerWaitMs}; the refresh
   * goes on without it, still renewing the lease, and stores what the provider answers. A provider
   * that answers late has most often rotated the refresh token already: a request cut off then would
   * leave the account only the spent one, and cost the user their login. Calls that come meanwhile
   * wait for the lease and find the new token.
   */
  private waitedFor(refresh: Promise<AccountRecord>, id: number, req: string): Promise<AccountRecord> {
    // From its start, not once its call stops waiting: a close() meanwhile would otherwise let the
    // pool go under it, and the provider's rotated refresh token with it.
    const out = refresh.then(
      () => {},
      () => {},
    )
    this.refreshesOut.add(out)
    void out.then(() => this.refreshesOut.delete(out))
    let timer: NodeJS.Timeout | undefined
    const gaveUp = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        void refresh.then(
          () => this.log.info(`account ${id}${req}: a refresh its call stopped waiting for has ended`),
          (error: Error) => this.log.info(`account ${id}${req}: a refresh its call stopped waiting for failed (${error.message})`),
        )
        reject(new AllAccessError('upstream_timeout', { detail: `no refreshed token within ${this.callerWaitMs} ms (the refresh goes on)` }))
      }, this.callerWaitMs)
    })
    return Promise.race([refresh, gaveUp]).finally(() => clearTimeout(timer))
  }

  /** Waits for the refreshes and revocations still out (each ends within its provider calls' time limits). */
  async close(): Promise<void> {
    await Promise.all([...this.refreshesOut, ...this.revocationsOut])
  }

  private async refreshHoldingLease(current: AccountRecord, owner: string, req: string): Promise<AccountRecord> {
    const provider = await this.provider(current).catch(async (error: unknown) => {
      // Disabled while this call was under way: the lease goes back at once, not when it times out.
      await this.store.accounts.releaseRefreshLease(current.id, owner)
      throw error
    })
    const client = this.client(provider, current)
    if (!(client instanceof OAuth2Client) || !current.refreshToken) {
      await this.store.accounts.releaseRefreshLease(current.id, owner)
      throw new AllAccessError('reauth_required')
    }
    let token
    try {
      // As long as any provider call may take, however long its caller waits (see waitedFor).
      const timeoutMs = Math.max(this.callerWaitMs, DEFAULT_TIMEOUT_MS)
      token = await this.metrics.refresh(provider.name, client.refreshAccessToken(current.refreshToken, { timeoutMs, idToken: current.idToken, callbackUrl: this.callbackUrl(provider) }))
    } catch (error) {
      if (error instanceof AllAccessError && error.code === 'reauth_required') {
        if (await this.store.accounts.refreshRefused(current.id, owner, current.updatedAt)) {
          this.log.info(`account ${current.id} needs a new login${req}: refresh refused (${error.detail ?? error.code})`)
          throw error
        }
        // Written while the refresh was out: a login's new access token (with no refresh token, it
        // left the lease to this refresh) serves the call, and the account stays usable.
        const renewed = await this.store.accounts.get(current.id)
        // Disconnected meanwhile: answered as a refresh granted then is.
        if (!renewed) throw new AllAccessError('account_not_connected')
        if (renewed.status !== 'active' || renewed.updatedAt === current.updatedAt) throw error
        this.log.info(`account ${current.id}${req}: refresh refused, but a login renewed the account meanwhile (${error.detail ?? error.code})`)
        return renewed
      }
      await this.store.accounts.releaseRefreshLease(current.id, owner)
      if (error instanceof AllAccessError && (error.code === 'token_request_failed' || error.code === 'provider_unavailable')) {
        // The token endpoint could not be reached (nor, for OIDC, the discovery naming it): for an
        // API call that is the upstream's failure.
        throw new AllAccessError(timedOut(error) ? 'upstream_timeout' : 'upstream_unreachable', { detail: error.detail, cause: error })
      }
      throw error
    }
    const tokens = {
      accessToken: token.accessToken,
      tokenSecret: null,
      // Without rotation the provider keeps the old refresh token valid and may omit it.
      refreshToken: token.refreshToken ?? current.refreshToken,
      idToken: token.idToken ?? current.idToken,
      expiresAt: token.expiresAt,
      scope: token.scope ?? current.scope,
    }
    if (!(await this.store.accounts.storeRefreshed(current.id, owner, tokens))) {
      if (!(await this.store.accounts.get(current.id))) {
        // Disconnected while the refresh was out: the disconnect revoked the tokens it read, not
        // these. They are revoked too (where the provider can), and not used for the call.
        await this.revokeTokens(client, { id: current.id, accessToken: token.accessToken, refreshToken: token.refreshToken }, req)
        this.log.info(`account ${current.id} was disconnected during its refresh${req}: the new tokens were revoked`)
        throw new AllAccessError('account_not_connected')
      }
      this.log.error(`error${req} account ${current.id}: refresh lease lost (to another instance, or a new login) before the new tokens were stored`)
    }
    return { ...current, ...tokens }
  }
}

/**
 * The server-side API client of one account: `request(method, url, options)` signs (OAuth 1.0a) or
 * attaches a bearer token (OAuth 2.0), under the same policy as the proxy
 * ({@link AccountAccessService.call}). Throws `reauth_required` when the user must sign in again.
 */
export class AccountApiClient {
  // Truly private: printed or serialised, an account's client would otherwise carry the whole
  // service, its store and the tokens it caches.
  readonly #service: AccountAccessService
  readonly #requestId: string | undefined

  constructor(
    service: AccountAccessService,
    readonly accountId: number,
    requestId?: string,
  ) {
    this.#service = service
    this.#requestId = requestId
  }

  async request<T = unknown>(method: string, url: string, requested: ApiRequestOptions = {}): Promise<ApiResponse<T>> {
    const options = { ...requested, maxBytes: requested.maxBytes ?? this.#service.apiMaxBody }
    return this.#service.call(this.accountId, undefined, {
      send: (client) => client.request<T>(method, url, options),
      evidence: (answer) => ({
        status: answer.status,
        headers: answer.headers,
        body: async () => answer.text,
        shortBody: async (limit) => (Buffer.byteLength(answer.text) <= limit ? answer.text : null),
      }),
      discard: async () => {},
      retryable: true,
      requestId: this.#requestId,
    })
  }
}
