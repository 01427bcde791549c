import { describe, expect, it } from 'vitest'
import type { Context } from 'koa'
import { AUTH_ERROR_MESSAGES, authErrorMessage } from '../shared/auth-errors.ts'
import { ERROR_MESSAGES } from '../shared/error-messages.ts'
import { ERROR_CODES, PROXY_ERROR_CODES, isProxyErrorCode, type ErrorCode } from '../shared/errors.ts'
import { AllAccessClientError, ProviderApiError, errorFromAnswer } from '../client/errors.ts'
import { AllAccessError } from '../server/errors.ts'
import { proxyRefusalsOnly } from '../server/proxy/refusals.ts'

/** The codes DESIGN.md says a login ends with as `auth_error`: the callback's, the redirect's, and any route's. */
const LOGIN_FAILURES = [
  'access_denied', 'invalid_state', 'missing_code', 'login_required', 'issuer_mismatch', 'request_token_failed',
  'token_request_failed', 'id_token_invalid', 'profile_request_failed', 'missing_identifier', 'account_conflict',
  'provider_unavailable', 'service_unavailable',
]

/** The codes DESIGN.md gives an HTTP status, with that status. */
const JSON_ANSWERS: Record<string, number> = {
  csrf_required: 403, origin_not_allowed: 403, not_authenticated: 401, unknown_provider: 404, account_not_found: 404,
  account_not_connected: 403, invalid_path: 400, payload_too_large: 413, not_found: 404, method_not_allowed: 405,
  rate_limited: 429, invalid_request: 400, reauth_required: 401, upstream_unreachable: 502, upstream_timeout: 504,
  service_unavailable: 503, server_error: 500,
}

describe('the shared ErrorCode union', () => {
  it('holds every code DESIGN.md names, and no other', () => {
    expect([...ERROR_CODES].sort()).toEqual([...new Set([...Object.keys(JSON_ANSWERS), ...LOGIN_FAILURES])].sort())
  })

  it.each(Object.entries(JSON_ANSWERS))('answers %s with the status DESIGN.md gives it, %i', (code, status) => {
    expect(new AllAccessError(code as ErrorCode).status).toBe(status)
  })
})

describe('the error messages', () => {
  it('give every code a sentence, which an AllAccessError carries by default', () => {
    for (const code of ERROR_CODES) {
      expect(ERROR_MESSAGES[code], code).toMatch(/^[A-Z].+[.]$/)
      expect(new AllAccessError(code).message).toBe(ERROR_MESSAGES[code])
    }
  })

  it('give a login failure the sentence the React library shows for it, written once', () => {
    expect(Object.keys(AUTH_ERROR_MESSAGES).sort()).toEqual([...LOGIN_FAILURES].sort())
    for (const [code, sentence] of Object.entries(AUTH_ERROR_MESSAGES)) {
      expect(ERROR_MESSAGES[code as ErrorCode], code).toBe(sentence)
      expect(authErrorMessage(code)).toBe(sentence)
    }
  })

  it('read server_error, or a code this version does not know, as a sign-in that went wrong', () => {
    expect(authErrorMessage('server_error')).toBe('Something went wrong during sign-in.')
    expect(authErrorMessage('<script>')).toBe('Something went wrong during sign-in.')
  })

  it("read a code named like an object's own property (a crafted ?auth_error=__proto__) as a sign-in that went wrong, not as that property", () => {
    // An app showing authErrorMessage(code) for the address's auth_error would render Object.prototype, which React throws on.
    for (const code of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf']) {
      expect(authErrorMessage(code), code).toBe('Something went wrong during sign-in.')
    }
  })
})

describe('the proxy refusal codes', () => {
  const thrownThrough = async (error: unknown) => {
    try {
      await proxyRefusalsOnly({} as Context, async () => {
        throw error
      })
    } catch (thrown) {
      return thrown
    }
    throw new Error('nothing was thrown')
  }

  it('are all the proxy route answers with: any other code thrown on its way is a server_error', async () => {
    for (const code of ERROR_CODES) {
      const thrown = (await thrownThrough(new AllAccessError(code, { detail: 'why' }))) as AllAccessError
      if (isProxyErrorCode(code)) {
        expect(thrown.code).toBe(code)
      } else {
        expect(thrown).toEqual(expect.objectContaining({ code: 'server_error', status: 500, detail: `the proxy may not answer ${code}: why` }))
      }
    }
  })

  it('leave what is not a contract error to the error middleware', async () => {
    const failure = new TypeError('a bug')
    expect(await thrownThrough(failure)).toBe(failure)
  })

  it('are the ones the React library reads as the BFF\'s refusal on /api; any other body is the provider\'s', () => {
    for (const code of ERROR_CODES) {
      const error = errorFromAnswer(400, { error: code, message: 'm' }, true)
      if ((PROXY_ERROR_CODES as readonly string[]).includes(code)) expect(error).toEqual(new AllAccessClientError(code, 400, 'm'))
      else expect(error).toBeInstanceOf(ProviderApiError)
    }
  })
})
