import { join } from 'node:path'
import { describe, expect, it, vi } from 'vitest'
import { main } from '../server/cli/index.ts'
import { generateKey } from '../server/crypto/keys.ts'
import { LINE_LIMIT } from '../server/log.ts'
import { freePort } from './support/demo-server.ts'
import { scratchFolder } from './support/scratch-folder.ts'

/** What a provider answered, quoted whole in the error a start fails with: far past a line's limit, with a terminal escape and a line separator. */
const ANSWER = `profile ${'x'.repeat(6000)} \u001b[2J\u2028forged line`

// The last step of serve's start before the app (the sandbox providers') fails with an error no
// branch of main() knows: the last-resort line. Nothing else can be made to fail so on cue.
vi.mock('../server/sandbox/index.ts', () => ({
  startSandbox: async () => {
    throw new Error(`the sandbox providers could not start: ${ANSWER}`)
  },
}))

/** The lines `all-access serve --sandbox` writes on stderr when its start fails so, in `format`. */
async function failedStart(format: 'text' | 'json'): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = []
  const cwd = scratchFolder('aa-failure-line-')
  const env = {
    PORT: String(await freePort()),
    HOST: '127.0.0.1',
    DATABASE_URL: `sqlite://${join(cwd, 'db.sqlite3')}`,
    ALLACCESS_KEYS: generateKey(),
    ALLACCESS_LOG_FORMAT: format,
  }
  const code = await main(['serve', '--sandbox'], { env, cwd, out: () => {}, err: (line) => lines.push(line) })
  return { code, lines }
}

describe('the line all-access writes for a failure it has no words of its own for', () => {
  it('is cut to the log line limit and escaped as the text log is, its stack frames kept below it', async () => {
    const { code, lines } = await failedStart('text')
    expect(code).toBe(1)
    expect(lines).toHaveLength(1)
    const [line] = lines as [string]
    expect(line).toMatch(/^all-access: Error: the sandbox providers could not start: profile x+…\[cut:\d+-chars\]\n {6}at /)
    expect(line).not.toMatch(/[\u001b\u2028]/)
    // Escaped, each such character is already the six it counts as.
    expect(line.length).toBeLessThanOrEqual(LINE_LIMIT)
  })

  it('is, with ALLACCESS_LOG_FORMAT=json, one JSON object at error whose msg is cut to the limit, with nothing a terminal obeys', async () => {
    const { code, lines } = await failedStart('json')
    expect(code).toBe(1)
    expect(lines).toHaveLength(1)
    const [line] = lines as [string]
    expect(line).not.toMatch(/[\u001b\u2028]/)
    const { level, msg } = JSON.parse(line) as { level: string; msg: string }
    expect(level).toBe('error')
    expect(msg).toMatch(/^all-access: Error: the sandbox providers could not start: profile x+…\[cut:\d+-chars\]\n {4}at /)
    // The limit counts each character the text format escapes as the six it writes.
    expect(msg.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, 'xxxxxx').length).toBeLessThanOrEqual(LINE_LIMIT)
  })
})
