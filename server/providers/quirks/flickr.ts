import type { RejectionEvidence } from '../../clients/base.ts'
import { RequestTokenByGetClient } from './request-token-by-get.ts'
import { jsonObject, shortFailureText } from './short-failure-answer.ts'

/** Flickr's error 98, "Login failed / Invalid auth token": the token passed is not (or no longer) valid. */
const INVALID_AUTH_TOKEN = 98
/** A failure answer is a hundred-odd bytes; only an answer declared this short is read to be judged. */
const FAILURE_ANSWER_LIMIT = 1024

/**
 * Flickr answers every failure of its API with HTTP 200 and `stat` "fail" (its REST, JSON and JSONP
 * formats), a revoked token's included: error 98 passed on as a success, and the account never
 * became `reauth_required`. Its request token is asked for with GET.
 */
export class FlickrClient extends RequestTokenByGetClient {
  override async tokenRejected(answer: RejectionEvidence): Promise<boolean> {
    if (await super.tokenRejected(answer)) return true
    if (answer.status !== 200) return false
    // A long answer (a page of photos) is no failure, and is never read.
    const text = await shortFailureText(answer, FAILURE_ANSWER_LIMIT)
    return text !== null && failureCode(text) === INVALID_AUTH_TOKEN
  }
}

/** The code of a Flickr failure answer in any of its formats; null for any other answer. */
function failureCode(answer: string): number | null {
  const text = answer.trim()
  if (text.startsWith('<')) {
    // <rsp stat="fail"><err code="98" msg="Invalid auth token" /></rsp>, after an optional XML declaration.
    const code = /^(?:<\?xml[^>]*>\s*)?<rsp\s+stat="fail"\s*>\s*<err\s[^>]*\bcode="(\d{1,9})"/.exec(text)?.[1]
    return code === undefined ? null : Number(code)
  }
  // JSON, or JSONP: jsonFlickrApi({...}) unless the call asked for nojsoncallback=1.
  const json = /^[A-Za-z_$][\w$]*\((.*)\)\s*;?$/s.exec(text)?.[1] ?? text
  const body = jsonObject(json)
  if (body?.stat !== 'fail') return null
  const { code } = body
  return typeof code === 'number' ? code : typeof code === 'string' && /^\d{1,9}$/.test(code) ? Number(code) : null
}
