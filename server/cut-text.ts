/** How much of one text from outside (a client's path or header, a provider's answer) a log line carries: enough to recognise it by. */
export const TEXT_LIMIT = 300

/**
 * Text from outside, cut to `limit` characters with a mark saying how long it was: a request's
 * target and headers may run to Node's 16 KiB, a provider's header or discovery document as far,
 * and an operator's log must not grow by whatever either sends. No space in the mark: a request
 * line's path stays one field.
 */
export function cutText(text: string, limit = TEXT_LIMIT): string {
  if (text.length <= limit) return text
  // Not between the halves of a surrogate pair, which would leave half a character.
  const end = /[\ud800-\udbff]/.test(text[limit - 1]!) ? limit - 1 : limit
  return `${text.slice(0, end)}…[cut:${text.length}-chars]`
}
