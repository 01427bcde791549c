import type { Context } from 'koa'
import { AllAccessError } from '../errors.ts'

/**
 * Reads the browser's request body up to `maxBytes` (413 beyond, before anything is sent upstream).
 * The body is kept whole so the call can be retried once after a token refresh, and so OAuth 1.0a
 * can sign form parameters.
 */
export async function readRequestBody(ctx: Context, maxBytes: number): Promise<Buffer | undefined> {
  if (ctx.method === 'GET' || ctx.method === 'HEAD') return undefined
  const declared = Number(ctx.get('Content-Length') || 0)
  if (declared > maxBytes) throw new AllAccessError('payload_too_large')
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > maxBytes) {
      ctx.req.resume()
      throw new AllAccessError('payload_too_large')
    }
    chunks.push(chunk)
  }
  return size === 0 && !ctx.get('Content-Length') && !ctx.get('Transfer-Encoding') ? undefined : Buffer.concat(chunks)
}
