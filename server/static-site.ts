import type { Middleware } from 'koa'
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { extname, join, resolve, sep } from 'node:path'

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
}

/** The SPA may talk only to its own origin, run only its own scripts, and never be framed. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "object-src 'none'",
  "frame-ancestors 'none'",
].join('; ')

/**
 * Serves the built SPA: files under `root`, and `index.html` for any other GET that wants a page
 * (client-side routes). Paths never leave `root`.
 */
export function staticSite(root: string): Middleware {
  const base = resolve(root)
  return async (ctx, next) => {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return next()
    let path: string
    try {
      path = decodeURIComponent(ctx.path)
    } catch {
      ctx.status = 400
      return
    }
    let file = resolve(join(base, path))
    if (file !== base && !file.startsWith(base + sep)) return next()
    let info = await stat(file).catch(() => null)
    if (info?.isDirectory()) {
      file = join(file, 'index.html')
      info = await stat(file).catch(() => null)
    }
    if (!info?.isFile()) {
      if (extname(path) !== '' || !ctx.accepts('html')) return next()
      file = join(base, 'index.html')
      info = await stat(file).catch(() => null)
      if (!info?.isFile()) return next()
    }
    const type = TYPES[extname(file)] ?? 'application/octet-stream'
    ctx.set('X-Content-Type-Options', 'nosniff')
    ctx.set('Referrer-Policy', 'no-referrer')
    if (type.startsWith('text/html')) {
      ctx.set('Content-Security-Policy', CONTENT_SECURITY_POLICY)
      ctx.set('X-Frame-Options', 'DENY')
      ctx.set('Cache-Control', 'no-cache')
    } else {
      // Vite names built assets by content hash: they never change under the same name.
      ctx.set('Cache-Control', path.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache')
    }
    ctx.type = type
    ctx.length = info.size
    ctx.status = 200
    if (ctx.method === 'GET') ctx.body = createReadStream(file)
  }
}
