import type { Context } from 'koa'
import { setHeader } from './response-headers.ts'

const JSON_TYPE = 'application/json; charset=utf-8'

/**
 * Answers `value` as JSON, as `ctx.body = value` would, with the type named outright: for an object
 * body Koa looks the type up by extension (mime-types) on every answer, which showed in the session
 * read's CPU profile.
 */
export function answerJson(ctx: Context, value: unknown): void {
  setHeader(ctx, 'Content-Type', JSON_TYPE)
  ctx.body = JSON.stringify(value)
}
