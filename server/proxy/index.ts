import type { ServerResponse } from 'node:http'
import { PassThrough, Readable } from 'node:stream'
import { isEnabled } from '../../shared/provider.ts'
import type { BaseOAuthClient } from '../clients/base.ts'
import { mediaType, PROVIDER_REQUEST_HEADERS } from '../clients/provider-http.ts'
import { AnswerTooLarge, deadline, ProviderTimeout, readCapped, send, type TransportAnswer } from '../clients/provider-transport.ts'
import { cutText } from '../cut-text.ts'
import { AllAccessError } from '../errors.ts'
import { RequestAbandonedError } from '../http/abandoned-request.ts'
import type { BffContext } from '../runtime.ts'
import type { AccountRecord } from '../store/accounts.ts'
import { resolveApiTarget } from './api-path.ts'
import { forwardedHeaders, pickHeaders, RETURNED_RESPONSE_HEADERS, withoutSecrets } from './headers.ts'
import { readRequestBody, type RequestBody } from './read-body.ts'
import { codingsToUndo, prematureClose, redactBytes, redactedBody } from './token-redaction.ts'
import { codingsToUndo as readableCodings, decodingChain, letGo } from '../clients/content-coding.ts'

interface Upstream {
  answer: TransportAnswer
  /** The body, decoded, when it was read whole to judge the token. */
  buffered?: Buffer
  /** The most bytes the body was found to be longer than, once it was put back unread. */
  longerThan?: number
  /** The last reading of the body to judge the token; the next waits for it. */
  reading?: Promise<Buffer | null>
  /** Stops the time limit once the body has been handed on. */
  done(): void
  /** From here on the pipe to the browser notices its leaving, which no longer ends the call itself. */
  handedOn(): void
  /** The account's token the call was made with: no header passed back may carry it. */
  secrets: string[]
}

/** One upstream call with the account's authentication; the time limit runs until the body's last byte. */
async function callUpstream(
  client: BaseOAuthClient,
  record: AccountRecord,
  request: { method: string; url: URL; headers: Record<string, string>; body: RequestBody; form?: URLSearchParams; browser: ServerResponse },
  timeoutMs: number,
): Promise<Upstream> {
  const authorized = client.authorizeRequest({ method: request.method, url: request.url, form: request.form }, { accessToken: record.accessToken, tokenSecret: record.tokenSecret })
  // A browser gone before the provider answers leaves nobody to answer: the call ends then, rather
  // than hold one of the provider's pooled connections until the time limit.
  const abandoned = () => new RequestAbandonedError('the browser went away before the provider answered')
  if (request.browser.destroyed) throw abandoned()
  const limit = deadline(timeoutMs)
  const leave = () => limit.abort(abandoned())
  request.browser.once('close', leave)
  // Watched until the answer is handed on: a body read to judge the token may stall with the browser gone.
  const handedOn = () => request.browser.off('close', leave)
  // The browser's Accept-Encoding is not forwarded: identity, as for every provider call.
  const headers: Record<string, string> = { ...PROVIDER_REQUEST_HEADERS, ...request.headers }
  for (const [name, value] of Object.entries(authorized.headers)) headers[name.toLowerCase()] = value
  try {
    const body = request.body.kind === 'buffered' ? request.body.bytes : request.body.kind === 'streamed' ? request.body.stream : null
    const answer = await send(authorized.url, { method: request.method, headers, body, signal: limit.signal })
    // HTTP statuses end at 599 (RFC 9110 §15): a browser's fetch fails on any other, as on a broken connection.
    if (answer.status > 599) {
      drop(answer)
      throw new AllAccessError('upstream_unreachable', { detail: `${request.url.origin} answered status ${answer.status}` })
    }
    const secrets = [record.accessToken, record.tokenSecret].filter((secret): secret is string => !!secret)
    const done = () => {
      limit.clear()
      handedOn()
    }
    return { answer, done, handedOn, secrets }
  } catch (cause) {
    limit.clear()
    handedOn()
    if (cause instanceof AllAccessError) throw cause
    // The upload's own failure (too large, or the browser gone) is what ended the call, not the provider.
    const uploadFailure = request.body.kind === 'streamed' ? request.body.stream.errored : null
    if (uploadFailure instanceof AllAccessError || uploadFailure instanceof RequestAbandonedError) throw uploadFailure
    if (limit.signal.reason instanceof RequestAbandonedError) throw limit.signal.reason
    if (limit.signal.aborted) throw new AllAccessError('upstream_timeout', { detail: `${request.url.origin} did not answer in ${timeoutMs} ms` })
    // Node's words may quote the provider: the hosts its certificate names, every one, when none is the one called.
    throw new AllAccessError('upstream_unreachable', { detail: `${request.url.origin}: ${cutText((cause as Error).message)}`, cause })
  }
}

/** Lets go of an answer's body unread; its connection closes rather than serve another call. */
function drop(answer: TransportAnswer): void {
  letGo([answer.body])
}

/**
 * The most parameters of a form the proxy signs for OAuth 1.0a. Signing sorts them all: millions of
 * `a&` in a body under the size limit held the event loop for seconds. Past it, `413`.
 */
export const SIGNED_FORM_PARAMETER_LIMIT = 10_000

function signedForm(bytes: Buffer): URLSearchParams {
  let separators = 0
  for (let at = bytes.indexOf(0x26); at !== -1; at = bytes.indexOf(0x26, at + 1)) {
    if (++separators >= SIGNED_FORM_PARAMETER_LIMIT) {
      throw new AllAccessError('payload_too_large', { detail: `a form to sign has more than ${SIGNED_FORM_PARAMETER_LIMIT} parameters` })
    }
  }
  return new URLSearchParams(bytes.toString('utf8'))
}

/** Whether a `name=value` pair, as sent, names an `oauth_*` parameter once decoded (`%6Fauth_x` too). */
function isProtocolParameter(pair: string): boolean {
  // A name that decodes to `oauth_…` starts with `o` or an escape.
  if (pair[0] !== 'o' && pair[0] !== '%') return false
  const [name] = new URLSearchParams(pair).keys()
  return name?.startsWith('oauth_') ?? false
}

/**
 * A caller's query or form without its `oauth_*` parameters, however their names are escaped, and
 * the rest byte for byte as sent; null when there were none. RFC 5849 §3.1 has the protocol
 * parameters in one place only, the BFF's Authorization header. Signed and sent beside it, a caller's
 * own (an `oauth_callback` of its choosing on the provider's request token endpoint) would speak
 * for the app.
 */
function withoutProtocolParameters(encoded: string): string | null {
  const pairs = encoded.split('&')
  const kept = pairs.filter((pair) => !isProtocolParameter(pair))
  return kept.length === pairs.length ? null : kept.join('&')
}

/** The methods the proxy forwards; anything else could reach an API in ways nobody reviewed. */
export const PROXIED_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']
/** A 401's body is read whole (up to this, decoded) when an OAuth 1.0a client must judge it. */
const REJECTION_BODY_LIMIT = 64 * 1024

/**
 * {@link readShort}, one reading at a time. Two at once (a client judging by two rules together)
 * would each take some of the answer's chunks and put them back out of order; in turn, the second
 * finds what the first learnt (the body read whole, or longer than it reads), or its failure.
 */
function readShortInTurn(sent: Upstream, limit: number): Promise<Buffer | null> {
  const reading = sent.reading ? sent.reading.then(() => readShort(sent, limit)) : readShort(sent, limit)
  sent.reading = reading
  return reading
}

/**
 * An answer's body, decoded, when it ends within `limit` bytes, declared or not (a short answer
 * sent chunked), for a client that judges the token by it; null when it is longer, or in a coding
 * that cannot be undone. What was read of a longer one is put back, so that the body still passes
 * on whole, never empty. A coded body is read until its coding ends (what follows is no part of
 * it), or past twice the limit and a margin, which no coding reaches with a body within it.
 */
async function readShort(sent: Upstream, limit: number): Promise<Buffer | null> {
  if (sent.buffered !== undefined) return sent.buffered.length <= limit ? sent.buffered : null
  if (limit <= (sent.longerThan ?? -1)) return null
  const { answer } = sent
  let codings: string[]
  try {
    codings = readableCodings(answer.headers.get('content-encoding'), answer.headers.get('transfer-encoding'))
  } catch {
    // A coding that cannot be undone: the call refuses the answer once it is judged.
    return null
  }
  const codedLimit = codings.length ? limit * 2 + 64 * 1024 : limit
  const declared = answer.headers.get('content-length')
  if (declared !== null && !(Number(declared) <= codedLimit)) {
    sent.longerThan = limit
    return null
  }
  const { body } = answer
  // Let go of before this reading (by the time limit, or the browser leaving, while a client judged by
  // something else first): no event is left to come, and the reading would wait for good.
  if (body.destroyed) brokeOff(sent, body.errored ?? prematureClose(), true)
  // The bytes go to a copy that is decoded, and are kept: a decoder cannot give back what it took.
  const copy = new PassThrough()
  const chain = decodingChain(copy, codings)
  const read: Buffer[] = []
  let size = 0
  let broke: Error | undefined
  // Read as it comes, not flowing: what is not taken stays in the answer, and the answer is left
  // neither flowing nor paused, for whoever reads it next.
  const take = () => {
    for (let chunk: Buffer | null; !copy.destroyed && (chunk = body.read() as Buffer | null) !== null; ) {
      read.push(chunk)
      size += chunk.length
      if (size > codedLimit) copy.destroy(new AnswerTooLarge(`coded answer over ${codedLimit} bytes`))
      else copy.write(chunk)
    }
  }
  const end = () => copy.end()
  const fail = (error: Error) => copy.destroy((broke = error))
  body.on('readable', take).once('end', end).once('error', fail)
  let decoded: Buffer | null = null
  let failure: unknown
  try {
    decoded = await readCapped(chain[chain.length - 1], limit)
  } catch (error) {
    failure = error
  } finally {
    body.off('readable', take).off('end', end).off('error', fail)
    letGo(chain)
  }
  if (decoded !== null) {
    // A coding that ended before the answer did: the rest is let go of, as browsers drop it.
    if (!body.readableEnded) drop(answer)
    return (sent.buffered = decoded)
  }
  if (broke || !(failure instanceof AnswerTooLarge)) brokeOff(sent, (broke ?? failure) as Error, broke !== undefined)
  sent.longerThan = limit
  const whole = Buffer.concat(read)
  if (body.readableEnded) sent.answer = { ...answer, body: Readable.from([whole], { objectMode: false }) }
  else body.unshift(whole)
  return null
}

/** Cut, stalled, or not decodable: there is no answer to pass on, and the browser, if still there, is told so. */
function brokeOff(sent: Upstream, cause: Error, broke: boolean): never {
  sent.done()
  drop(sent.answer)
  if (cause instanceof RequestAbandonedError) throw cause
  throw new AllAccessError(cause instanceof ProviderTimeout ? 'upstream_timeout' : 'upstream_unreachable', { detail: `the provider's answer ${broke ? 'broke off' : 'could not be decoded'}: ${cause.message}`, cause })
}

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

  const headers = forwardedHeaders((header) => ctx.get(header) || null)
  // OAuth 1.0a signs a form's parameters, so such a body is read whole and parsed; any other body
  // goes on as bytes, unparsed. The media type itself, whatever its parameters (RFC 9110 §8.3.1): a
  // provider does not count a body of a type that only starts with its name. A form the app compressed
  // is bytes to the proxy and to a provider's signature check alike (RFC 5849 §3.4.1.3.1 reads a form
  // body as sent): it goes on as it is, its parameters unsigned, rather than signed as the gzip they are not.
  const coded = (headers['content-encoding'] ?? 'identity').trim().toLowerCase() !== 'identity'
  const signsForm = provider.protocol === 'oauth1' && !coded && mediaType(headers['content-type'] ?? null) === 'application/x-www-form-urlencoded'
  let body = await readRequestBody(ctx, runtime.proxy.maxBody, signsForm, runtime.proxy.timeoutMs)
  let form = signsForm && body.kind === 'buffered' ? signedForm(body.bytes) : undefined
  if (provider.protocol === 'oauth1') {
    const query = target.search ? withoutProtocolParameters(target.search.slice(1)) : null
    if (query !== null) target.search = query
    // The body sent is the form signed. Latin-1: every byte as it came, whatever its encoding.
    const sent = form && body.kind === 'buffered' && [...form.keys()].some((name) => name.startsWith('oauth_')) ? withoutProtocolParameters(body.bytes.toString('latin1')) : null
    if (sent !== null) {
      body = { kind: 'buffered', bytes: Buffer.from(sent, 'latin1') }
      form = signedForm(body.bytes)
    }
  }
  const request = { method: ctx.method, url: target, headers, body, form, browser: ctx.res }

  const upstream = await runtime.accounts.call(account, provider, {
    send: async (client, record) => {
      // Judged again as each attempt leaves: the body and a refresh may have taken longer than the session.
      await runtime.sessions.confirmLive(ctx)
      return runtime.metrics.upstream(provider.name, callUpstream(client, record, request, runtime.proxy.timeoutMs))
    },
    evidence: (sent) => ({
      status: sent.answer.status,
      headers: sent.answer.headers,
      body: async () => (await readShortInTurn(sent, REJECTION_BODY_LIMIT))?.toString() ?? '',
      shortBody: async (limit) => (await readShortInTurn(sent, limit))?.toString() ?? null,
    }),
    discard: async (sent) => {
      sent.done()
      drop(sent.answer)
    },
    retryable: body.kind !== 'streamed',
    requestId: ctx.state.requestId,
  })

  const { answer } = upstream
  upstream.handedOn()
  // Let go of while a client judged the token by something else after reading it (the time limit, a
  // reset, the browser gone): nothing is left to pass on, and a decoder piped from it would wait for good.
  if (upstream.buffered === undefined && answer.body.errored) brokeOff(upstream, answer.body.errored, true)
  let codings: string[] = []
  try {
    // A 204's or 304's coding names no body of its own: nothing to read for the token.
    if (answer.status !== 204 && answer.status !== 304) codings = codingsToUndo(answer.headers.get('content-encoding'), answer.headers.get('transfer-encoding'))
    // A part of an encoded body decodes to nothing readable (a slice of gzip), so it could carry the token unseen.
    if (codings.length && answer.status === 206) throw new AllAccessError('upstream_unreachable', { detail: 'a part (206) of an encoded body: the proxy cannot read it for the token' })
  } catch (error) {
    upstream.done()
    drop(answer)
    throw error
  }
  ctx.status = answer.status
  const returned = pickHeaders(answer.headers, RETURNED_RESPONSE_HEADERS)
  // A 304 stands for the 200 it confirms, whose body would leave decoded: a cache applies its headers to that body.
  let decodes = codings.length > 0
  if (answer.status === 304) {
    try {
      decodes = codingsToUndo(answer.headers.get('content-encoding'), answer.headers.get('transfer-encoding')).length > 0
    } catch {
      // A coding the proxy cannot read: its 200 is refused, and nothing a cache holds came from it.
    }
  }
  // The body leaves decoded: its coding stays behind with it, and so do ranges, which count coded bytes (a 206 of them is refused above).
  if (decodes) {
    delete returned['content-encoding']
    delete returned['accept-ranges']
  }
  ctx.set(withoutSecrets(returned, upstream.secrets))
  // HEAD first, even when its (empty) body was read to judge the token: it names no length of its own.
  if (ctx.method === 'HEAD') {
    upstream.done()
    drop(answer)
    // Not null: Koa answers a null body "204 No Content" (or the 4 bytes of a JSON `null`). An empty
    // body keeps the provider's status; a GET's answer is streamed, so HEAD names no length either.
    ctx.body = ''
    ctx.remove('Content-Length')
  } else if (upstream.buffered !== undefined) {
    upstream.done()
    // The browser never holds the token: not even where a provider writes it back into its answer.
    ctx.body = redactBytes(upstream.buffered, upstream.secrets)
  } else if (answer.status === 204 || answer.status === 304) {
    upstream.done()
    drop(answer)
    ctx.body = null
    return
  } else {
    answer.body.once('end', upstream.done).once('error', upstream.done).once('close', upstream.done)
    ctx.body = redactedBody(answer.body, codings, upstream.secrets)
    // koa-compress around the BFF holds what it compresses until its buffer fills: an event stream's
    // events (and, before the first byte, its headers) would reach the browser only when it ends.
    if (mediaType(answer.headers.get('content-type')) === 'text/event-stream') (ctx as { compress?: boolean }).compress = false
  }
  if (!answer.headers.get('content-type')) ctx.remove('Content-Type')
}
