import type { RejectionEvidence } from '../../clients/base.ts'

/**
 * The text of an answer at most `limit` bytes long, for a provider that names a dead token in the
 * body of an answer whose status does not say so; null for any other. A long answer is never read
 * whole to be judged: the proxy would hold all of it.
 */
export async function shortFailureText(answer: RejectionEvidence, limit: number): Promise<string | null> {
  const text = await answer.shortBody(limit)
  return text || null
}

/** The JSON object of such an answer (see {@link shortFailureText}); null for any other. */
export async function shortFailureJson(answer: RejectionEvidence, limit: number): Promise<Record<string, unknown> | null> {
  const text = await shortFailureText(answer, limit)
  return text === null ? null : jsonObject(text)
}

/** A JSON object, or null for anything else (a JSONP wrapper, HTML, a bare value). */
export function jsonObject(text: string): Record<string, unknown> | null {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return null
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null
}
