import type Koa from 'koa'
import type { IncomingMessage } from 'node:http'
import { isCallerParseError } from '../http/abandoned-request.ts'

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string)
}

/** A plain, accessible page for the sandbox providers' sign-in and consent screens. */
export function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem;color:#1f2933}
h1{font-size:1.4rem}form{margin:1rem 0}label{display:block;margin-bottom:.25rem;font-weight:600}
select,input{font:inherit;padding:.4rem;margin-bottom:.75rem;width:100%}button{font:inherit;padding:.5rem 1rem;border-radius:6px;border:1px solid #3e4c59;background:#fff;cursor:pointer}
form:first-of-type button[type=submit]:first-of-type{background:#2457d6;color:#fff;border-color:#2457d6}button:focus-visible{outline:3px solid #f0b429;outline-offset:2px}</style>
</head><body><main>${body}</main></body></html>`
}

/**
 * Reads a request body up to `limit` bytes (the sandboxes take only small forms and JSON). A body the
 * caller cut off (the BFF ending an upload its browser left) is a `400`, not the sandbox failing.
 */
export async function readSmallBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length
      if (size > limit) throw Object.assign(new Error('body too large'), { status: 413, expose: true })
      chunks.push(chunk)
    }
  } catch (error) {
    if ((error as { status?: number }).status === 413) throw error
    throw Object.assign(new Error('request body cut off'), { status: 400, expose: true })
  }
  return Buffer.concat(chunks)
}

/**
 * A sandbox's errors on stderr, as Koa prints them, but for a request its caller cut off mid-body
 * (the BFF ending an upload its browser left): Node's parser reports that on the response too.
 */
export function printServerErrors(app: Koa): void {
  app.on('error', (error: Error & { status?: number; expose?: boolean }) => {
    if (error.status === 404 || error.expose || isCallerParseError(error)) return
    console.error(error)
  })
}
