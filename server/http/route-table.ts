import type { Context } from 'koa'
import compose from 'koa-compose'

/**
 * What the route table leaves in `ctx.state.route`: the route's template, the label metrics count
 * it under, and, when the path is known but not with this method, the methods it takes (for
 * `405` with `Allow`).
 */
export interface MatchedRoute {
  label: string
  allowed: string[]
  /** The template's parameters, decoded (`provider`). */
  params: Record<string, string>
}

/** The `:provider` of the matched route, `''` when there is none. */
export function providerParam(ctx: { state: { route?: MatchedRoute } }): string {
  return ctx.state.route?.params.provider ?? ''
}

/** The route the route table matched (for a path it knows with another method, that path's), or `unmatched`: what metrics count a request under, never the path asked for, which carries ids. */
export function matchedRoute(state: { route?: MatchedRoute }): string {
  return state.route?.label ?? 'unmatched'
}

/** A route's step: typed loosely, as each flow types its own context (LoginContext, BffContext). */
type Step = compose.Middleware<never>

/** What a route checks before its steps run: it throws to refuse the request (the CSRF check). */
export type Check = (ctx: Context) => void

export interface Route {
  /** `null`: any method. */
  methods: string[] | null
  label: string
  pattern: RegExp
  names: string[]
  checks: Check[]
  handle: Step
}

/** One step as it is; several composed (a composed chain costs a promise and a bound function per step). */
function chain(steps: Step[]): Step {
  return steps.length === 1 ? steps[0] : compose(steps)
}

// A matched route's answer needs no `Allow`, and most routes have no parameters: shared, never changed.
const NOTHING_ELSE: string[] = Object.freeze([]) as unknown as string[]
const NO_PARAMS: Record<string, string> = Object.freeze({})

function decode(text: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}

/**
 * The BFF's few routes, matched in order by one regular expression each. A general router cost
 * a third of a session read's CPU time (a composed chain and several matching passes per request).
 * As before with `@koa/router`: a trailing slash is allowed, case is ignored, parameters are
 * decoded, and a GET route answers HEAD too.
 */
export class RouteTable {
  private readonly routes: Route[] = []

  /** A route whose template names its parameters as `/:name` segments; `checks` run first, in order. */
  add(method: 'GET' | 'POST' | 'DELETE', template: string, checks: Check[], ...steps: Step[]): this {
    const names: string[] = []
    const source = template.replace(/\/:(\w+)/g, (_, name: string) => {
      names.push(name)
      return '/([^/]+)'
    })
    this.routes.push({ methods: method === 'GET' ? ['HEAD', 'GET'] : [method], label: template, pattern: new RegExp(`^${source}/?$`, 'i'), names, checks, handle: chain(steps) })
    return this
  }

  /** Any method, on a pattern of its own, counted under `label`. */
  any(label: string, pattern: RegExp, checks: Check[], ...steps: Step[]): this {
    this.routes.push({ methods: null, label, pattern, names: [], checks, handle: chain(steps) })
    return this
  }

  /**
   * The route for the request's path and method, left in `ctx.state.route` at once: what metrics
   * count the request under, even when a step before the route's own fails (the session read with
   * the database away). A path known with another method leaves its allowed methods; undefined
   * when no route takes the request.
   */
  match(ctx: Context): Route | undefined {
    let known: MatchedRoute | undefined
    // Read once: Koa's ctx.path goes through two getters and a URL-cache check on every read.
    const path = ctx.path
    for (const route of this.routes) {
      const found = route.pattern.exec(path)
      if (!found) continue
      if (route.methods === null || route.methods.includes(ctx.method)) {
        // In ctx.state, not on ctx: a property added to Koa's context on each request made every
        // later step slower (a quarter of a session read's time, measured).
        const params = route.names.length ? Object.fromEntries(route.names.map((name, i) => [name, decode(found[i + 1])])) : NO_PARAMS
        ctx.state.route = { label: route.label, allowed: NOTHING_ELSE, params } satisfies MatchedRoute
        return route
      }
      known ??= { label: route.label, allowed: [], params: {} }
      known.allowed.push(...route.methods)
    }
    if (known) ctx.state.route = known
    return undefined
  }

  /** Runs what {@link match} found: its checks, then its steps; with no route, `next`. */
  run(ctx: Context, route: Route | undefined, next: () => Promise<void>): Promise<void> {
    if (!route) return next()
    for (const check of route.checks) check(ctx)
    return route.handle(ctx as never, next)
  }
}
