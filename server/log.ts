import { writeSync } from 'node:fs'

/** What a line is about, beside its text: a request line's method, path, status, ms and req. */
export type LogFields = Record<string, string | number>

/**
 * Where all-access writes: one line per request and one per error, never a secret (DESIGN.md,
 * "Logs"), none longer than {@link LINE_LIMIT}. `fields` repeat, as data, what the line says; a
 * logger may ignore them. A line may hold a provider's or a client's control characters: a logger
 * of the host's escapes them as its format needs.
 */
export interface Logger {
  info(line: string, fields?: LogFields): void
  error(line: string, fields?: LogFields): void
}

/**
 * The most one line holds, as written: a stack trace of Node's ten frames (some 1.5 KiB of paths
 * into node_modules) and the error and request before it fit, while text from outside, however many
 * parts of a detail or a message quote it, never makes a line longer.
 */
export const LINE_LIMIT = 4096

/**
 * What both formats escape beside the C0 controls (JSON.stringify escapes those itself). DEL and the
 * C1 controls: a terminal obeys them (U+009B is CSI, which xterm and VTE read in UTF-8 as ESC `[`;
 * U+0085 is NEL). The line and paragraph separators: Python's `splitlines()` and JavaScript's
 * multiline `^` start a line at each, so a client's text holding one would start a line that reads
 * as the BFF's own. Unicode's bidirectional controls (U+202E and the others of Bidi_Control): a log
 * viewer (a browser's, a bidi terminal's) would show the text after one in an order it was not
 * written in, words of the client's as the BFF's.
 */
const ESCAPED_BEYOND_C0 = '\\u007f-\\u009f\\u2028\\u2029\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069'

/** A character either format writes escaped, as six characters (`\u001b`). */
const ESCAPED_CHARACTER = new RegExp(`[\\u0000-\\u001f${ESCAPED_BEYOND_C0}]`)

/** Counted as six each, the characters written escaped keep a line of them in the limit once written. */
const widthOf = (c: string | undefined) => (c !== undefined && ESCAPED_CHARACTER.test(c) ? 6 : 1)

/**
 * The frames of a line that ends with an Error's stack trace, by the fields handed with it: out of
 * the line's text, which a host's Logger gets as before, and out of reach of text from outside. A
 * provider's message, quoted in an error's, may hold a line break and `    at …` too: only what
 * V8 wrote after the message is written as frames.
 */
const framesOfLine = new WeakMap<LogFields, string>()

/** The frames {@link errorLine} found at the end of `line`, or none. */
function framesIn(line: string, fields: LogFields | undefined): string {
  const frames = fields && framesOfLine.get(fields)
  return frames && line.endsWith(frames) ? frames : ''
}

/** What `String(thrown)` says, for a thrown value that may not be an Error, nor convertible (`Object.create(null)`). */
function thrownInWords(thrown: unknown): string {
  try {
    return String(thrown)
  } catch {
    return Object.prototype.toString.call(thrown)
  }
}

/**
 * The first line V8 writes in an Error's stack, as its `Error.prototype.toString` does: `name: message`,
 * or Node's own errors' `name [code]: message`. Each ends with the whole message, as it is now.
 */
function stackHeads(error: { name?: unknown; message?: unknown; code?: unknown }): string[] {
  const name = error.name === undefined ? 'Error' : String(error.name)
  const message = error.message === undefined ? '' : String(error.message)
  const head = (name: string) => (name === '' ? message : message === '' ? name : `${name}: ${message}`)
  return typeof error.code === 'string' ? [head(name), head(`${name} [${error.code}]`)] : [head(name)]
}

/** An Error's stack split in its text (name and message, which may quote anyone) and the frames V8 wrote after it. */
function stackParts(thrown: unknown): { text: string; frames: string } {
  let stack: unknown
  let heads: string[] = []
  try {
    stack = (thrown as Error | null | undefined)?.stack
    if (typeof stack === 'string') heads = stackHeads(thrown as Error)
  } catch {
    // A getter that throws: the value is told as String() tells it.
  }
  if (typeof stack !== 'string') return { text: thrownInWords(thrown), frames: '' }
  for (const head of heads) {
    if (stack.startsWith(head) && (stack.length === head.length || stack.startsWith('\n    at ', head.length))) return { text: head, frames: stack.slice(head.length) }
  }
  // A stack whose first lines are not the message as it is now (a library rewrote one or the other): all of it is text.
  return { text: stack, frames: '' }
}

/**
 * A line of `text` followed by what was thrown (an Error's stack trace, or the value in words), and
 * the fields to hand a Logger with it: through them the text format knows which lines are the
 * stack's frames, and a line cut to {@link LINE_LIMIT} keeps them.
 */
export function errorLine(text: string, thrown: unknown, fields: LogFields = {}): [string, LogFields] {
  const { text: said, frames } = stackParts(thrown)
  const own = { ...fields }
  if (frames) framesOfLine.set(own, frames)
  return [text + said + frames, own]
}

/** How many characters `text` takes as written, each escaped one as six; past `limit`, a little more than it. */
function writtenWidth(text: string, limit = Infinity): number {
  let width = 0
  for (let i = 0; i < text.length && width <= limit; i++) width += widthOf(text[i])
  return width
}

/** The start of `text` and `mark` after it, in `limit` characters as written. */
function cutTo(text: string, limit: number, mark: string): string {
  let end = 0
  for (let width = mark.length; end < text.length && width + widthOf(text[end]) <= limit; end++) width += widthOf(text[end])
  // Not between the halves of a surrogate pair, which would leave half a character.
  if (end > 0 && /[\ud800-\udbff]/.test(text[end - 1]!)) end--
  return text.slice(0, end) + mark
}

/**
 * The most of a cut line its stack trace's frames may take: the rest keeps the request id, the code
 * and the start of the error. Node's ten frames, some 1.5 KiB, fit whole.
 */
const FRAMES_LIMIT = LINE_LIMIT - 1024

/**
 * The line, if longer than {@link LINE_LIMIT} as written, cut to it with the mark `cutText` gives a
 * text (its length before the cut); a line cut once is not cut again. A line ending with an error's
 * frames ({@link errorLine}) keeps them, or as many of the first as {@link FRAMES_LIMIT} holds: the
 * text before them, a message quoting a provider's answer, is what is cut. Returns the frames kept.
 */
export function cutLine(line: string, frames = ''): { line: string; frames: string } {
  // Six characters each at most: a line this short fits however it is written.
  if (line.length * 6 <= LINE_LIMIT || writtenWidth(line, LINE_LIMIT) <= LINE_LIMIT) return { line, frames }
  const mark = `…[cut:${line.length}-chars]`
  let kept = ''
  // Counted as they are kept: measuring the kept frames again for each one read them all each time.
  let keptWidth = 0
  for (const frame of frames.split(/(?=\n)/)) {
    const width = writtenWidth(frame, FRAMES_LIMIT)
    if (keptWidth + width + mark.length > FRAMES_LIMIT) break
    kept += frame
    keptWidth += width
  }
  if (!kept) return { line: cutTo(line, LINE_LIMIT, mark), frames: '' }
  const cut = kept.length < frames.length
  const keptFrames = cut ? kept + mark : kept
  const text = line.slice(0, line.length - frames.length)
  // The mark is written as it is: no character of it is escaped.
  const room = LINE_LIMIT - keptWidth - (cut ? mark.length : 0)
  return { line: (writtenWidth(text, room) <= room ? text : cutTo(text, room, mark)) + keptFrames, frames: keptFrames }
}

/** Loggers that already cut their lines: `serve` hands its own to `createAllAccess`, which must not cut each line again. */
const cutting = new WeakSet<Logger>()

/** `line` cut, and the fields to hand with it: a copy naming the frames it kept, if they are fewer. */
function cutWithFields(line: string, fields: LogFields | undefined): [string, LogFields | undefined] {
  const frames = framesIn(line, fields)
  const cut = cutLine(line, frames)
  if (cut.frames === frames) return [cut.line, fields]
  const own = { ...fields }
  if (cut.frames) framesOfLine.set(own, cut.frames)
  return [cut.line, own]
}

/**
 * The logger all-access writes to, the host's own included: every line cut to {@link LINE_LIMIT}.
 * An error's detail or stack may quote a provider (a profile in a hook's error, say) or a client.
 */
export function withLinesCut(log: Logger): Logger {
  if (cutting.has(log)) return log
  const cut: Logger = { info: (line, fields) => log.info(...cutWithFields(line, fields)), error: (line, fields) => log.error(...cutWithFields(line, fields)) }
  cutting.add(cut)
  return cut
}

/** How `serve` prints its lines (`ALLACCESS_LOG_FORMAT`). */
export const LOG_FORMATS = ['text', 'json'] as const
export type LogFormat = (typeof LOG_FORMATS)[number]

/**
 * Lines for one file descriptor, written together at most every {@link FLUSH_MS}: a pipe's writes
 * are synchronous system calls on Linux that wake the reader, and one per request (or per turn of
 * the event loop, a few requests each under load) was the largest single cost of a session read.
 * What is pending is written before the process exits.
 */
/** How long a log line may wait to be written with the lines that follow it. */
const FLUSH_MS = 20

/**
 * How much may wait in a stream's queue for a reader that stopped (a stalled log collector): past
 * it, lines are dropped and counted, not held in memory until the process runs out of it.
 */
export const LOG_QUEUE_LIMIT = 16 * 1024 * 1024

class BatchedLines {
  private pending = ''
  private scheduled = false
  /** The process's stream for this descriptor, once a full pipe made lines wait in its queue. */
  private stream: NodeJS.WriteStream | undefined
  /** Lines dropped while the queue was full, told in a line of the format they were written in. */
  private dropped = 0
  private droppedNote: (count: number) => string = String

  constructor(private readonly fd: number) {
    process.once('exit', () => this.flush())
  }

  write(line: string, droppedNote: (count: number) => string): void {
    this.droppedNote = droppedNote
    this.pending += line + '\n'
    if (this.pending.length > 64 * 1024) this.flush()
    else if (!this.scheduled) {
      this.scheduled = true
      // Unref'd: pending lines never keep a process alive, and its exit writes them.
      setTimeout(() => this.flush(), FLUSH_MS).unref()
    }
  }

  private flush(): void {
    this.scheduled = false
    const text = this.pending
    this.pending = ''
    if (!text) return
    // Lines already queued on the stream go first: a direct write now would pass them, or cut into one.
    if (this.stream && this.stream.writableLength > 0) {
      if (this.stream.writableLength > LOG_QUEUE_LIMIT) {
        for (let at = text.indexOf('\n'); at !== -1; at = text.indexOf('\n', at + 1)) this.dropped++
        return
      }
      this.stream.write(this.withDroppedNote(text))
      return
    }
    const bytes = Buffer.from(this.withDroppedNote(text))
    let written = 0
    try {
      // A non-blocking pipe with some room takes part of the batch: write the rest after it.
      while (written < bytes.length) written += writeSync(this.fd, bytes, written)
    } catch (error) {
      // A non-blocking pipe that is full: let the stream queue the rest. A closed one must not stop the server.
      if ((error as NodeJS.ErrnoException).code === 'EAGAIN') {
        this.stream ??= this.fd === 1 ? process.stdout : process.stderr
        this.stream.write(bytes.subarray(written))
      }
    }
  }

  private withDroppedNote(text: string): string {
    if (!this.dropped) return text
    const note = this.droppedNote(this.dropped)
    this.dropped = 0
    return `${note}\n${text}`
  }
}

const droppedText = (count: number) => `log: ${count} lines dropped, the log's reader did not keep up`

const out = new BatchedLines(1)
const err = new BatchedLines(2)

/** Every character the text format escapes, line breaks included: only an Error's frames are written on lines of their own. */
const ESCAPED_IN_TEXT = new RegExp(ESCAPED_CHARACTER.source, 'g')

/** `\uXXXX` for a character: how both formats write one they escape, which JSON reads back as that character. */
const escaped = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`

const escapedText = (text: string) => (ESCAPED_CHARACTER.test(text) ? text.replace(ESCAPED_IN_TEXT, escaped) : text)

/**
 * A line as the text format writes it. Text from a provider or a caller can reach a line (an error's
 * detail, a message); its control characters and line breaks are escaped, so no such text starts a
 * line, not even one reading `    at …` as a stack frame does. The frames V8 wrote for an error the
 * line ends with ({@link errorLine}) go on indented lines below it, where they read as its.
 */
export function textLine(line: string, fields?: LogFields): string {
  const frames = framesIn(line, fields)
  const text = escapedText(line.slice(0, line.length - frames.length))
  // A frame's function name may be a computed property's, which no one escaped: each line is escaped on its own.
  return frames ? text + frames.split('\n').map(escapedText).join('\n  ') : text
}

export const consoleLogger: Logger = {
  info: (line, fields) => out.write(textLine(line, fields), droppedText),
  error: (line, fields) => err.write(textLine(line, fields), droppedText),
}

/**
 * A line's request id, for lines that name it in their text (`error req=… code: …`) without fields.
 * Every such line names it before its first `: `, which starts what it quotes (a provider's message,
 * a database's): a `req=` there is not the line's, nor is one after a line's `req=-`.
 */
function requestIdIn(line: string): string | undefined {
  const colon = line.indexOf(': ')
  const own = colon === -1 ? line : line.slice(0, colon)
  const id = /(?:^| )req=([^ ]*)/.exec(own)?.[1]
  return id && /^[0-9a-f]+$/.test(id) ? id : undefined
}

/** What JSON.stringify leaves as it is, and a terminal (`docker logs`) or a log viewer still obeys (see {@link ESCAPED_BEYOND_C0}). */
const JSON_CONTROL = new RegExp(`[${ESCAPED_BEYOND_C0}]`, 'g')

/** The line as one JSON object: `time`, `level`, `msg` (the text line), then its fields. */
export function jsonLine(level: 'info' | 'error', line: string, fields: LogFields = {}): string {
  const req = fields.req ?? requestIdIn(line)
  const json = JSON.stringify({ time: new Date().toISOString(), level, msg: line, ...fields, ...(req === undefined ? {} : { req }) })
  // Outside strings JSON holds none of them: escaped, each reads back as the same character.
  return json.replace(JSON_CONTROL, escaped)
}

// The note of lines dropped, at the level of its stream's lines (README: info on stdout, error on stderr).
const droppedInfo = (count: number) => jsonLine('info', droppedText(count), { dropped: count })
const droppedError = (count: number) => jsonLine('error', droppedText(count), { dropped: count })

/**
 * One JSON object per line, for log collectors: the same lines, so the same redaction, with their
 * fields as JSON values. Errors go to stderr as in the text format.
 */
export const jsonLogger: Logger = {
  info: (line, fields) => out.write(jsonLine('info', line, fields), droppedInfo),
  error: (line, fields) => err.write(jsonLine('error', line, fields), droppedError),
}

export function consoleLoggerFor(format: LogFormat): Logger {
  return format === 'json' ? jsonLogger : consoleLogger
}

export const silentLogger: Logger = { info: () => {}, error: () => {} }
