import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { generateKey } from '../../server/crypto/keys.ts'
import { EPHEMERAL_PORTS_START, FIRST_FREE_PORT, portPicker } from '../../bench/ports.ts'

/**
 * Ports are handed out below Linux's ephemeral range (32768–60999), from a block of this vitest
 * worker's own. A port the system chose (listen on 0), closed, then bound again by a process started
 * a second later, could meanwhile be handed by the system to any server another test file starts
 * on port 0: one such listen in about 5,000 got the port just released, and the suite starts some
 * forty `serve` processes while its other workers start servers of their own.
 */
const PORT_BLOCK = 400
const BLOCKS = Math.floor((EPHEMERAL_PORTS_START - FIRST_FREE_PORT) / PORT_BLOCK)

export const freePort = portPicker(FIRST_FREE_PORT + (Number(process.env.VITEST_POOL_ID ?? 0) % BLOCKS) * PORT_BLOCK, PORT_BLOCK)

export interface RunningServe {
  url: string
  process: ChildProcess
  output: () => string
  /** Resolves with the exit code when the process ends (null when a signal killed it). */
  exited: Promise<number | null>
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

/**
 * Runs `all-access serve` as a user would, in its own process and folder, and waits until it
 * listens. The port is chosen first so PUBLIC_URL (and so the callback URLs) can name it.
 */
export async function startServe(options: { databaseUrl?: string; sandbox?: boolean; keys?: string; env?: Record<string, string | undefined>; port?: number } = {}): Promise<RunningServe> {
  const cwd = mkdtempSync(join(tmpdir(), 'aa-serve-'))
  const port = options.port ?? (await freePort())
  // Named localhost: another site than the sandbox providers on 127.0.0.1, as real providers are.
  const url = `http://localhost:${port}`
  const env: Record<string, string | undefined> = {
    ...process.env,
    NODE_ENV: 'test',
    PORT: String(port),
    HOST: '127.0.0.1',
    PUBLIC_URL: url,
    DATABASE_URL: options.databaseUrl ?? `sqlite://${join(cwd, 'db.sqlite3')}`,
    ALLACCESS_KEYS: options.keys ?? generateKey(),
    ALLACCESS_STATIC_DIR: resolve('dist/demo'),
    // Tests log in many times from one address: no login rate limit unless a test sets one.
    ALLACCESS_LOGIN_RATE_LIMIT: '0',
    ...options.env,
  }
  // `undefined` in options.env leaves the variable unset, as a user who never set it.
  for (const [name, value] of Object.entries(env)) if (value === undefined) delete env[name]
  const child = spawn(process.execPath, [resolve('bin/all-access.js'), 'serve', ...(options.sandbox ? ['--sandbox'] : [])], {
    cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()))
  // Its folder (and the default SQLite file in it) goes with the process.
  const exited = new Promise<number | null>((done) =>
    child.once('exit', (code) => {
      rmSync(cwd, { recursive: true, force: true })
      done(code)
    }),
  )
  await new Promise<void>((ready, fail) => {
    const timer = setTimeout(() => fail(new Error(`serve did not start in time:\n${output}`)), 20_000)
    const check = () => {
      if (output.includes('all-access listening on')) {
        clearTimeout(timer)
        ready()
      }
    }
    child.stdout?.on('data', check)
    void exited.then((code) => {
      clearTimeout(timer)
      fail(new Error(`serve exited with ${code}:\n${output}`))
    })
  })
  return {
    url,
    process: child,
    output: () => output,
    exited,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      return exited
    },
  }
}
