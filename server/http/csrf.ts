import { CSRF_HEADER, CSRF_VALUE } from '../../shared/routes.ts'
import { AllAccessError } from '../errors.ts'
import type { Check } from './route-table.ts'

/**
 * The BFF's CSRF defence: a custom header, which a cross-site form or image cannot send and a
 * cross-origin fetch can only send after a CORS preflight that this BFF never grants; and an
 * `Origin`, when the browser sends one, that must be the app's own.
 */
export function requireCsrf(publicOrigin: string): Check {
  return (ctx) => {
    // Present, even empty (no browser sends that), it must be the app's: DESIGN.md says "present".
    const origin = ctx.headers.origin
    if (origin !== undefined && origin !== publicOrigin) throw new AllAccessError('origin_not_allowed')
    if (ctx.get(CSRF_HEADER) !== CSRF_VALUE) throw new AllAccessError('csrf_required')
  }
}
