import { spawn } from 'node:child_process'
import { pathToFileURL } from 'node:url'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { LINE_LIMIT } from '../server/log.ts'

const LOG_MODULE = pathToFileURL(resolve('dist/server/log.js')).href

/** Runs a script against the built logger; resolves with what it printed, and whether a line came before it exited. */
function runLogging(script: string): Promise<{ stdout: string; stderr: string; code: number | null; printedWhileRunning: boolean }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', `import { consoleLogger, errorLine, jsonLogger } from '${LOG_MODULE}'\n${script}`])
    let stdout = ''
    let stderr = ''
    let printedWhileRunning = false
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk
      if (child.exitCode === null && child.signalCode === null) printedWhileRunning = true
    })
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk))
    child.on('error', fail)
    child.on('close', (code) => done({ stdout, stderr, code, printedWhileRunning }))
  })
}

describe('log lines, written in batches', () => {
  it('writes every pending line, in order, when the process exits at once', async () => {
    const { stdout, stderr, code } = await runLogging(`
      for (let i = 1; i <= 3; i++) consoleLogger.info('GET /auth/session 200 0ms req=' + i)
      consoleLogger.error('error req=3 server_error: boom')
      jsonLogger.info('POST /auth/logout 204 1ms req=4', { method: 'POST', path: '/auth/logout', status: 204, ms: 1, req: '4' })
      process.exit(0)`)
    expect(code).toBe(0)
    const lines = stdout.trimEnd().split('\n')
    expect(lines.slice(0, 3)).toEqual(['GET /auth/session 200 0ms req=1', 'GET /auth/session 200 0ms req=2', 'GET /auth/session 200 0ms req=3'])
    expect(JSON.parse(lines[3])).toMatchObject({ level: 'info', msg: 'POST /auth/logout 204 1ms req=4', status: 204, req: '4' })
    expect(stderr).toBe('error req=3 server_error: boom\n')
  })

  it("keeps text from elsewhere from starting a line of its own or driving the terminal: control characters and line breaks escaped, a stack trace's frames indented", async () => {
    const { stdout, stderr } = await runLogging(`
      consoleLogger.info('error req=1 token_request_failed: token endpoint answered 400 x\\r\\nGET /auth/session 200 0ms req=2 \\u001b[2J\\u0000')
      function step() { throw new Error('boom\\nGET / 500 0ms req=4') }
      try { step() } catch (error) { consoleLogger.error(...errorLine('error req=3 server_error: ', error)) }
      jsonLogger.info('a\\nb')
      process.exit(0)`)
    expect(stdout.split('\n')).toEqual([
      'error req=1 token_request_failed: token endpoint answered 400 x\\u000d\\u000aGET /auth/session 200 0ms req=2 \\u001b[2J\\u0000',
      expect.stringContaining('"msg":"a\\nb"'),
      '',
    ])
    const [first, ...frames] = stderr.trimEnd().split('\n')
    expect(first).toBe('error req=3 server_error: Error: boom\\u000aGET / 500 0ms req=4')
    expect(frames[0]).toMatch(/^ {6}at step \(/)
    for (const frame of frames) expect(frame).toMatch(/^ {6}at /)
  })

  it("writes a provider's text that reads as a stack frame on the error's own line: only the frames V8 wrote go on lines of their own", async () => {
    // A host's hook quoting a profile's name in its error, as getOrCreateUser may.
    const { stderr } = await runLogging(`
      function seat(name) { throw new TypeError('no seat for ' + name) }
      try { seat('mallory\\n    at forged (/app/server/all-access.js:1:1)') } catch (error) { consoleLogger.error(...errorLine('error req=3 server_error: ', error)) }
      consoleLogger.error('error req=5 token_request_failed: x\\n    at forged (/app/server/all-access.js:1:1)')
      process.exit(0)`)
    const lines = stderr.trimEnd().split('\n')
    expect(lines[0]).toBe('error req=3 server_error: TypeError: no seat for mallory\\u000a    at forged (/app/server/all-access.js:1:1)')
    expect(lines[1]).toMatch(/^ {6}at seat \(/)
    expect(lines.at(-1)).toBe('error req=5 token_request_failed: x\\u000a    at forged (/app/server/all-access.js:1:1)')
    expect(lines.filter((line) => line.includes('forged'))).toHaveLength(2)
  })

  it("cuts a line past its limit in the message, not in the stack trace's frames, and keeps the first frames of a stack too deep to fit", async () => {
    const { stderr } = await runLogging(`
      import { withLinesCut } from '${LOG_MODULE}'
      const log = withLinesCut(consoleLogger)
      Error.stackTraceLimit = Infinity
      function deep(n) { if (n === 0) throw new Error('no seat for ' + 'b'.repeat(100000)); deep(n - 1) }
      try { deep(1000) } catch (error) { log.error(...errorLine('error req=3 server_error: ', error)) }
      process.exit(0)`)
    const written = stderr.trimEnd()
    const lines = written.split('\n')
    expect(lines[0]).toMatch(/^error req=3 server_error: Error: no seat for b+…\[cut:\d+-chars\]$/)
    // The frames nearest the throw, each whole; the mark after the last says more were left out.
    expect(lines[1]).toMatch(/^ {6}at deep \(.*\)$/)
    for (const frame of lines.slice(1, -1)) expect(frame).toMatch(/^ {6}at deep \(.*\)$/)
    expect(lines.at(-1)).toMatch(/^ {6}at deep \(.*\)…\[cut:\d+-chars\]$/)
    expect(lines.length).toBeGreaterThan(5)
    expect(written.length).toBeLessThanOrEqual(LINE_LIMIT)
  })

  it('escapes the C1 controls too, which a terminal reads in UTF-8 as ESC sequences (U+009B is CSI) or a line break (U+0085)', async () => {
    const { stdout } = await runLogging(`
      consoleLogger.info('error req=1 token_request_failed: x\\u009b2J\\u0085GET / 200 0ms req=2 \\u00a0é')
      process.exit(0)`)
    expect(stdout).toBe('error req=1 token_request_failed: x\\u009b2J\\u0085GET / 200 0ms req=2 \u00a0é\n')
  })

  it('escapes DEL and the C1 controls in the JSON format too, which JSON.stringify leaves as they are, and reads back the same', async () => {
    const { stdout } = await runLogging(`
      jsonLogger.info('x\\u009b2J\\u007f\\u0085 \\u00a0é', { path: '/\\u009b' })
      jsonLogger.info('x\\u009b2J')
      process.exit(0)`)
    const lines = stdout.trimEnd().split('\n')
    expect(lines).toHaveLength(2)
    for (const line of lines) expect(line).not.toMatch(/[\u007f-\u009f]/)
    expect(JSON.parse(lines[0]!)).toMatchObject({ msg: 'x\u009b2J\u007f\u0085 \u00a0é', path: '/\u009b' })
    expect(JSON.parse(lines[1]!)).toMatchObject({ msg: 'x\u009b2J' })
  })

  it("takes a JSON line's req from the BFF's own words before the line's first colon, never from a provider's text after it", async () => {
    const { stdout, stderr } = await runLogging(`
      jsonLogger.error('error clean-up failed: the database refused "x req=0123456789abcdef y"')
      jsonLogger.error('error req=- answer cut: the provider wrote req=0123456789abcdef')
      jsonLogger.info('account 7 req=00000000000000aa: refresh lease not renewed (req=0123456789abcdef)')
      jsonLogger.info('request abandoned req=00000000000000bb: the client went away')
      process.exit(0)`)
    const [cleanUp, answerCut] = stderr.trimEnd().split('\n').map((line) => JSON.parse(line) as { req?: string })
    expect(cleanUp).not.toHaveProperty('req')
    expect(answerCut).not.toHaveProperty('req')
    expect(stdout.trimEnd().split('\n').map((line) => (JSON.parse(line) as { req?: string }).req)).toEqual(['00000000000000aa', '00000000000000bb'])
  })

  it('writes the lines of a process that dies of an uncaught error', async () => {
    const { stdout, stderr, code } = await runLogging(`
      consoleLogger.info('GET /auth/session 200 0ms req=1')
      setTimeout(() => { throw new Error('crash') }, 0)`)
    expect(code).not.toBe(0)
    expect(stdout).toBe('GET /auth/session 200 0ms req=1\n')
    expect(stderr).toContain('Error: crash')
  })

  it('writes a line while the process still runs', async () => {
    const { stdout, printedWhileRunning } = await runLogging(`
      consoleLogger.info('GET /auth/session 200 0ms req=1')
      setTimeout(() => {}, 1000)`)
    expect(stdout).toBe('GET /auth/session 200 0ms req=1\n')
    expect(printedWhileRunning).toBe(true)
  })

  it('writes a batch as soon as it passes 64 KiB, before its interval is up', async () => {
    // Killed outright right after logging: no timer and no exit handler runs, so only lines the size sent out are there.
    const { stdout } = await runLogging(`
      const line = 'GET /api/bench/' + 'x'.repeat(1000) + ' 200 0ms'
      for (let i = 0; i < 70; i++) consoleLogger.info(line)
      process.kill(process.pid, 'SIGKILL')`)
    const written = stdout.split('\n').filter(Boolean).length
    expect(written).toBeGreaterThanOrEqual(60)
    expect(written).toBeLessThan(70)
  })
})

describe('log lines, to a non-blocking pipe that fills up', () => {
  // A pipe (as a container runtime gives) that is non-blocking, as it is once anything in the
  // process (or its parent) opened it as a stream, and a reader slower than the writer: a write may
  // take only part of a batch. No line may be lost, cut or written out of order.
  it('writes every line whole and in order', async () => {
    const script = `import { jsonLogger } from '${LOG_MODULE}'
      process.stdout
      const pad = 'x'.repeat(900)
      let i = 0
      const burst = () => { for (let n = 0; n < 100 && i < 600; n++, i++) jsonLogger.info('GET /p 200 1ms req=' + i, { i, pad }); if (i < 600) setTimeout(burst, 5) }
      burst()`
    const stdout = await new Promise<string>((done, fail) => {
      const child = spawn('sh', ['-c', `"${process.execPath}" --input-type=module -e "$SCRIPT" | (sleep 0.5; cat)`], { env: { ...process.env, SCRIPT: script } })
      let out = ''
      child.stdout.on('data', (chunk: Buffer) => (out += chunk))
      child.on('error', fail)
      child.on('close', () => done(out))
    })
    const lines = stdout.split('\n').filter(Boolean)
    expect(lines.map((line) => (JSON.parse(line) as { i: number }).i)).toEqual(Array.from({ length: 600 }, (_, i) => i))
  }, 20_000)

  // A log collector that stops reading must not make the server hold every line since in memory:
  // past the queue's limit lines are dropped, and a line says how many, once the reader is back.
  it('drops lines, and says how many, rather than queue past its limit for a reader that stopped', async () => {
    const script = `import { jsonLogger, LOG_QUEUE_LIMIT } from '${LOG_MODULE}'
      import { writeFileSync } from 'node:fs'
      process.stdout
      const pad = 'x'.repeat(1000)
      const total = Math.ceil((LOG_QUEUE_LIMIT * 1.5) / 1024)
      let i = 0
      let queued = 0
      const burst = () => {
        for (let n = 0; n < 500 && i < total; n++, i++) jsonLogger.info('GET /p 200 1ms req=' + i, { i, pad })
        queued = Math.max(queued, process.stdout.writableLength)
        if (i < total) return setTimeout(burst, 1)
        // The whole burst written: the reader may read now.
        writeFileSync(process.env.READ_NOW, '')
        // Once the reader is back and the queue has drained, one more line brings the count with it.
        const last = () => (process.stdout.writableLength ? setTimeout(last, 10) : (jsonLogger.info('GET /p 200 1ms req=last', { i: total, pad }), process.stderr.write(JSON.stringify({ total, queued, limit: LOG_QUEUE_LIMIT }))))
        setTimeout(last, 10)
      }
      burst()`
    const [stdout, stderr] = await new Promise<[string, string]>((done, fail) => {
      // The reader waits while the whole burst is written, then reads everything.
      const folder = mkdtempSync(join(tmpdir(), 'all-access-log-'))
      const readNow = join(folder, 'read-now')
      const reader = 'while [ ! -e "$READ_NOW" ]; do sleep 0.05; done; cat'
      const child = spawn('sh', ['-c', `"${process.execPath}" --input-type=module -e "$SCRIPT" | (${reader})`], { env: { ...process.env, SCRIPT: script, READ_NOW: readNow } })
      let out = ''
      let err = ''
      child.stdout.on('data', (chunk: Buffer) => (out += chunk))
      child.stderr.on('data', (chunk: Buffer) => (err += chunk))
      child.on('error', fail)
      child.on('close', () => (rmSync(folder, { recursive: true, force: true }), done([out, err])))
    })
    const { total, queued, limit } = JSON.parse(stderr) as { total: number; queued: number; limit: number }
    // Never more than the limit and a batch (64 KiB) queued.
    expect(queued).toBeLessThanOrEqual(limit + 128 * 1024)
    const entries = stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { i?: number; dropped?: number; level: string; msg: string })
    const note = entries.findIndex((entry) => entry.dropped !== undefined)
    expect(entries[note]).toMatchObject({ level: 'info', msg: `log: ${entries[note]!.dropped} lines dropped, the log's reader did not keep up` })
    // The lines before the drop and the last one, whole and in order; together with the dropped, every line.
    const kept = entries.filter((entry) => entry.dropped === undefined).map((entry) => entry.i!)
    expect(kept.slice(0, note)).toEqual(Array.from({ length: note }, (_, i) => i))
    expect(entries.slice(note + 1).map((entry) => entry.i)).toEqual([total])
    expect(kept.length - 1 + entries[note]!.dropped!).toBe(total)
  }, 30_000)
})
