import { Readable } from 'node:stream'
import type { ReadableStream as WebReadableStream } from 'node:stream/web'
import { isEnabled } from '../../shared/provider.ts'
import type { BaseOAuthClient } from '../clients/base.ts'
import { readCapped, USER_AGENT } from '../clients/provider-http.ts'
import { AllAccessError } from '../errors.ts'
import type { BffContext } from '../runtime.ts'
import type { AccountRecord } from '../store/accounts.ts'
import { resolveApiTarget } from './api-path.ts'
import { FORWARDED_REQUEST_HEADERS, pickHeaders, RETURNED_RESPONSE_HEADERS } from './headers.ts'
import { readRequestBody, type RequestBody } from './read-body.ts'

interface Upstream {
  response: Response
  /** The body, when it had to be read to judge a 401. */
  buffered?: string
  /** Cancels the timer once the body has been handed on. */
  done(): void
}

/** One upstream call with the account's authentication; the timeout runs until the body's last byte. */
async function callUpstream(
  client: BaseOAuthClient,
  record: AccountRecord,
  request: { method: string; url: URL; headers: Record<string, string>; body: RequestBody; form?: URLSearchParams },
  timeoutMs: number,
): Promise<Upstream> {
  const authorized = client.authorizeRequest({ method: request.method, url: request.url, form: request.form }, { accessToken: record.accessToken, tokenSecret: record.tokenSecret })
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(new AllAccessError('upstream_timeout')), timeoutMs)
  try {
    const response = await fetch(authorized.url, {
      method: request.method,
      headers: { 'User-Agent': USER_AGENT, ...request.headers, ...authorized.headers },
      body: request.body.kind === 'buffered' ? new Uint8Array(request.body.bytes) : request.body.kind === 'streamed' ? request.body.stream : undefined,
      redirect: 'manual',
      signal: controller.signal,
      // Node's fetch needs this to send a stream as the body.
      ...(request.body.kind === 'streamed' ? { duplex: 'half' } : {}),
    } as RequestInit)
    return { response, done: () => clearTimeout(timer) }
  } catch (cause) {
    clearTimeout(timer)
    const tooLarge = [cause, (cause as Error).cause, ((cause as Error).cause as Error)?.cause].find((c) => c instanceof AllAccessError)
    if (tooLarge) throw tooLarge
    if (controller.signal.aborted) throw new AllAccessError('upstream_timeout', { detail: `${request.url.origin} did not answer in ${timeoutMs} ms` })
    throw new AllAccessError('upstream_unreachable', { detail: `${request.url.origin}: ${((cause as Error).cause as Error)?.message ?? (cause as Error).message}`, cause })
  }
}

/** The methods the proxy forwards; anything else could reach an API in ways nobody reviewed. */
export const PROXIED_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']
/** A 401's body is read whole (up to this) when an OAuth 1.0a client must judge it. */
const REJECTION_BODY_LIMIT = 64 * 1024

/**
 * `ANY /api/:provider/<path>`: forwards to the provider's API base URL only (an allow-list by
 * construction) as the signed-in user, under the account call policy (refresh, one retry,
 * `reauth_required`), and passes the provider's status and body back. Authentication problems are
 * the contract's JSON 401/403, never a redirect.
 */
export async function proxyRoute(ctx: BffContext): Promise<void> {
  // The provider's answer is data for the SPA's code, never a document to render or embed.
  ctx.set('Content-Security-Policy', "default-src 'none'; sandbox")
  ctx.set('Cross-Origin-Resource-Policy', 'same-origin')
  if (!PROXIED_METHODS.includes(ctx.method)) {
    ctx.set('Allow', PROXIED_METHODS.join(', '))
    throw new AllAccessError('method_not_allowed')
  }
  const { runtime, session } = ctx.state
  if (!session) throw new AllAccessError('not_authenticated')
  const [, name = '', rawRest] = /^\/api\/([^/?]*)\/?([^?]*)/.exec(ctx.originalUrl) ?? []
  let providerName: string
  try {
    providerName = decodeURIComponent(name)
  } catch {
    throw new AllAccessError('unknown_provider')
  }
  const provider = await runtime.store.providers.get(providerName)
  if (!provider || !isEnabled(provider) || !provider.apiBaseUrl) throw new AllAccessError('unknown_provider')
  const target = resolveApiTarget(provider.apiBaseUrl, rawRest ?? '', ctx.querystring)
  const account = await runtime.store.accounts.findForUser(session.userId, provider.name)
  if (!account) throw new AllAccessError('account_not_connected')
  // Using the provider's API is activity: the session's idle end moves on (at most one write a minute).
  await runtime.sessions.touch(ctx)

  const headers = pickHeaders({ get: (header) => ctx.get(header) || null }, FORWARDED_REQUEST_HEADERS)
  const isForm = /^application\/x-www-form-urlencoded/i.test(headers['content-type'] ?? '')
  const body = await readRequestBody(ctx, runtime.proxy.maxBody, isForm)
  const form = isForm && body.kind === 'buffered' ? new URLSearchParams(body.bytes.toString('utf8')) : undefined
  const request = { method: ctx.method, url: target, headers, body, form }

  const upstream = await runtime.accounts.call(account, provider, {
    send: (client, record) => callUpstream(client, record, request, runtime.proxy.timeoutMs),
    evidence: (answer) => ({
      status: answer.response.status,
      headers: answer.response.headers,
      body: async () => (answer.buffered ??= await readCapped(answer.response.body, REJECTION_BODY_LIMIT).catch(() => '')),
    }),
    discard: async (answer) => {
      answer.done()
      await answer.response.body?.cancel().catch(() => {})
    },
    retryable: body.kind !== 'streamed',
  })

  const { response } = upstream
  ctx.status = response.status
  ctx.set(pickHeaders(response.headers, RETURNED_RESPONSE_HEADERS))
  if (upstream.buffered !== undefined) {
    upstream.done()
    ctx.body = upstream.buffered
  } else if (!response.body || ctx.method === 'HEAD' || response.status === 204 || response.status === 304) {
    upstream.done()
    ctx.body = null
    return
  } else {
    const stream = Readable.fromWeb(response.body as unknown as WebReadableStream)
    stream.once('end', upstream.done).once('error', upstream.done).once('close', upstream.done)
    ctx.body = stream
  }
  if (!response.headers.get('content-type')) ctx.remove('Content-Type')
}
