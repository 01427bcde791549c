import type { Context } from 'koa'
import { refuseBodyReadBefore, requestChunks } from './abandoned-request.ts'

/**
 * A small `application/x-www-form-urlencoded` body (a provider's form_post answer, a logout token),
 * read with a cap: null when it is not a form or is larger than `maxBytes`.
 */
export async function readForm(ctx: Context, maxBytes: number): Promise<URLSearchParams | null> {
  if (!ctx.is('application/x-www-form-urlencoded') || Number(ctx.get('Content-Length') || 0) > maxBytes) return null
  refuseBodyReadBefore(ctx)
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of requestChunks(ctx)) {
    size += chunk.length
    if (size > maxBytes) return null
    chunks.push(chunk)
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'))
}
