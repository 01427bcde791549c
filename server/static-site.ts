import type { Context, Middleware } from 'koa'
import conditional from 'koa-conditional-get'
import compose from 'koa-compose'
import etag from '@koa/etag'
import send from 'koa-send'
import { ReadStream, realpathSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { once } from 'node:events'
import { extname, isAbsolute, relative, resolve, sep } from 'node:path'
import { isBffPath } from '../shared/routes.ts'
import { ContentTags } from './content-tags.ts'

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

/** What koa-send answers as an HTML or XHTML document, in any case of the extension: each is a page. */
const PAGE_EXTENSIONS = new Set(['.html', '.htm', '.xhtml'])

/** Vite names built assets by content hash: they never change under the same name. */
const HASHED_ASSETS = '/assets/'

/** RFC 8615's folder (security.txt, app-link files): the one dot segment a site publishes. */
const WELL_KNOWN = '/.well-known/'

/** A path into `/.well-known/` with no other dot segment (another dotfile, `..`), read as koa-send decodes it. */
function isWellKnownFile(path: string): boolean {
  let decoded: string
  try {
    decoded = decodeURIComponent(path)
  } catch {
    return false
  }
  return decoded.startsWith(WELL_KNOWN) && !decoded.slice(WELL_KNOWN.length).split('/').some((segment) => segment.startsWith('.'))
}

/**
 * The largest file revalidated by a tag of its bytes. @koa/etag tags a file by its size and mtime:
 * builds that fix every file's time (Nix's store, SOURCE_DATE_EPOCH) write index.html at one size
 * and time release after release, as only its assets' hashes change, and the browser kept the page
 * of the release before, whose assets were gone. Larger files go on with that tag, unread.
 */
const CONTENT_TAGGED_MAX = 1024 * 1024

/**
 * How long a file's answer may go without the client taking a byte. Node sets no such limit: a
 * client that asks for a file larger than the socket's buffers and never reads held its connection
 * and the open file for good, and enough of them ran the process out of descriptors.
 */
const STALLED_ANSWER_MS = 60_000

/**
 * Whether the file koa-send found is one a symbolic link in the folder leads to outside it (or is
 * gone since). resolve-path judges the path's text only, and the folder handed out whatever a link
 * in it led to: /etc/passwd, or the database beside a build that copied a link from `public/`.
 * Both sides are resolved on each request, as a folder deployed as a link (`current -> releases/42`)
 * changes where it leads.
 */
function leadsOutside(root: string, file: string): boolean {
  let folder: string
  let real: string
  try {
    folder = realpathSync.native(root)
    real = realpathSync.native(file)
  } catch {
    return true
  }
  return real !== folder && !isInside(folder, real)
}

/** Whether `path` lies below `folder`, both absolute and as they are (links resolved by the caller, if it must). */
export function isInside(folder: string, path: string): boolean {
  const inside = relative(folder, path)
  return inside !== '' && inside !== '..' && !inside.startsWith(`..${sep}`) && !isAbsolute(inside)
}

/** What koa-send answers for a missing file, which this is to a visitor: no word of where the link leads. */
function notInFolder(): Error {
  return Object.assign(new Error('not in the static folder'), { status: 404 })
}

export interface StaticSiteOptions {
  /** How long a file's answer may go without the client taking a byte before its connection is closed (default a minute). */
  stalledAnswerMs?: number | undefined
}

/**
 * Serves the built SPA with koa-send: files under `root` (never outside it, by a path or by a
 * symbolic link; of dotfiles, only those of `/.well-known/`), with ETags and `304` for what the browser holds; `index.html` for any other
 * GET that wants a page (client-side routes).
 * Pages carry the CSP and are revalidated each time; hashed assets are cached for a year.
 */
export function staticSite(root: string, { stalledAnswerMs = STALLED_ANSWER_MS }: StaticSiteOptions = {}): Middleware {
  const isPage = (path: string) => PAGE_EXTENSIONS.has(extname(path).toLowerCase())
  // Resolved once: koa-send and the link check judge the same folder, whatever the working directory later.
  const folder = resolve(root)
  const isImmutable = (path: string) => !isPage(path) && path.startsWith(folder + HASHED_ASSETS)
  const options: send.SendOptions = {
    root: folder,
    index: 'index.html',
    gzip: false,
    brotli: false,
    setHeaders(res, path) {
      // Called after koa-send's stat and before it sets a header or opens the file.
      if (leadsOutside(folder, path)) throw notInFolder()
      res.setHeader('X-Content-Type-Options', 'nosniff')
      res.setHeader('Referrer-Policy', 'no-referrer')
      if (isPage(path)) {
        res.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY)
        res.setHeader('X-Frame-Options', 'DENY')
      }
      res.setHeader('Cache-Control', isImmutable(path) ? 'public, max-age=31536000, immutable' : 'no-cache')
    },
  }
  const wellKnownOptions: send.SendOptions = { ...options, hidden: true }
  const contentTags = new ContentTags()
  /**
   * The file sent from a handle of its own, tagged by its bytes, which @koa/etag then leaves as they
   * are; without Last-Modified, a time alone earns no 304. The handle is the body's only once the
   * tag is read, so a request that ends meanwhile cannot close it under the reading.
   */
  const sendTagged = async (ctx: Context, sent: ReadStream, path: string) => {
    sent.once('error', () => {}).destroy()
    const handle = await open(path)
    try {
      const stats = await handle.stat()
      ctx.etag = await contentTags.tagOf(handle, stats)
      ctx.body = handle.createReadStream(stats.size > 0 ? { start: 0, end: stats.size - 1 } : { start: 0 })
      ctx.length = stats.size
      ctx.remove('Last-Modified')
    } catch (error) {
      await handle.close()
      throw error
    }
  }
  const sendFile = async (ctx: Context, path: string): Promise<boolean> => {
    try {
      const served = await send(ctx, path, isWellKnownFile(path) ? wellKnownOptions : options)
      if (!served) return false
      if (ctx.body instanceof ReadStream && !isImmutable(served) && ctx.length <= CONTENT_TAGGED_MAX) {
        await sendTagged(ctx, ctx.body, served)
      } else if (ctx.body instanceof ReadStream && ctx.body.pending) {
        // koa-send opens the file after its stat: one that cannot be opened (no read permission, no
        // descriptor left) failed only once Koa sent it, past every middleware, with Koa's own answer.
        await once(ctx.body, 'open')
      }
      // Once the answer is sent, Node's keep-alive limit replaces this one, and the next request clears it.
      ctx.res.setTimeout(stalledAnswerMs)
      return true
    } catch (error) {
      // Not there, or a path (or a link) that would leave the root: not ours to answer.
      const status = (error as { status?: number }).status
      if (status === 404 || status === 403 || status === 400) return false
      throw error
    }
  }
  const files: Middleware = async (ctx, next) => {
    // The BFF's paths are its own wherever this is mounted: placed before it, the page fallback took
    // every login start and callback (a navigation that wants HTML) and broke sign-in.
    if ((ctx.method !== 'GET' && ctx.method !== 'HEAD') || isBffPath(ctx.path)) return next()
    if (await sendFile(ctx, ctx.path)) return
    // A name with an extension is a missing file, unless a browser navigates to it (Fetch Metadata):
    // an SPA route may hold a dot (/users/jane.doe), as Vite's own fallback allows.
    const page = extname(ctx.path) === '' || ctx.get('Sec-Fetch-Mode') === 'navigate'
    if (!page || !ctx.accepts('html') || !(await sendFile(ctx, '/index.html'))) return next()
  }
  return compose([conditional(), etag(), files] as Middleware[]) as Middleware
}
