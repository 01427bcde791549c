import { isErrorCode, type ErrorCode } from '../shared/errors.ts'

/** An answer of the BFF with a contract error code (`reauth_required`, `not_authenticated`, …). */
export class AllAccessClientError extends Error {
  readonly code: ErrorCode
  readonly status: number

  constructor(code: ErrorCode, status: number, message: string) {
    super(message)
    this.name = 'AllAccessClientError'
    this.code = code
    this.status = status
  }
}

/** A provider's own non-2xx answer passed through the proxy (its status and parsed body). */
export class ProviderApiError extends Error {
  readonly status: number
  readonly body: unknown

  constructor(status: number, body: unknown) {
    super(`The provider answered ${status}.`)
    this.name = 'ProviderApiError'
    this.status = status
    this.body = body
  }
}

/** True when the user must sign in with the provider again before its API can be used. */
export function isReauthRequired(error: unknown): boolean {
  return error instanceof AllAccessClientError && error.code === 'reauth_required'
}

/** Reads an error answer: a contract body becomes AllAccessClientError, anything else ProviderApiError. */
export function errorFromAnswer(status: number, body: unknown, fromProxy: boolean): Error {
  if (body && typeof body === 'object' && 'error' in body && 'message' in body && isErrorCode((body as { error: unknown }).error)) {
    const { error, message } = body as { error: ErrorCode; message: string }
    return new AllAccessClientError(error, status, message)
  }
  if (fromProxy) return new ProviderApiError(status, body)
  return new AllAccessClientError('server_error', status, 'The server answered unexpectedly.')
}
