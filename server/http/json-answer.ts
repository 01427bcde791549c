import type { Context } from 'koa'
import { setHeader } from './response-headers.ts'

const JSON_TYPE = 'application/json; charset=utf-8'

/**
 * Answers JSON text, as `ctx.body = value` would answer the value, with the type named outright: for
 * an object body Koa looks the type up by extension (mime-types) on every answer, which showed in
 * the session read's CPU profile. The text comes serialised, so a route may keep it between answers.
 */
export function answerJson(ctx: Context, json: string): void {
  setHeader(ctx, 'Content-Type', JSON_TYPE)
  ctx.body = json
}
