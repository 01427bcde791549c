import type { Middleware } from 'koa'
import { isProxyErrorCode } from '../../shared/errors.ts'
import { AllAccessError } from '../errors.ts'

/**
 * The proxy route answers with its own codes only (`PROXY_ERROR_CODES`): the React library reads
 * any other code there as the provider's answer. Another contract code thrown on the way is a
 * mistake of ours, answered as `server_error` and logged.
 */
export const proxyRefusalsOnly: Middleware = async (_ctx, next) => {
  try {
    await next()
  } catch (error) {
    if (error instanceof AllAccessError && !isProxyErrorCode(error.code)) {
      throw new AllAccessError('server_error', { detail: `the proxy may not answer ${error.code}${error.detail ? `: ${error.detail}` : ''}`, cause: error })
    }
    throw error
  }
}
