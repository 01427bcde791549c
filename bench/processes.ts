// The bench's child processes: its own servers and load generator (forked, with an IPC channel),
// the BFF as users run it (`node bin/all-access.js serve`), and the CPU time each one spends.
import { execFile, execFileSync, fork, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { CommandMessage, CommandReply } from './child.ts'
import { EPHEMERAL_PORTS_START, FIRST_FREE_PORT, portPicker } from './ports.ts'
import type { Job, JobMessage, LoadResult } from './load.ts'

export const ROOT = fileURLToPath(new URL('..', import.meta.url))
const CLI = join(ROOT, 'bin', 'all-access.js')
const START_TIMEOUT_MS = 30_000

const children = new Set<ChildProcess>()

function track<T extends ChildProcess>(child: T): T {
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}

/** Ends a child: SIGTERM (the BFF drains and closes its database), SIGKILL if it lingers. */
export async function stop(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
  await exited
  clearTimeout(timer)
}

export async function stopAll(): Promise<void> {
  await Promise.all([...children].map((child) => stop(child)))
}

/** The last resort when the bench itself is exiting and cannot wait. */
export function killAllNow(): void {
  for (const child of children) child.kill('SIGKILL')
}

function onceStarted<T>(child: ChildProcess, name: string, started: Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start in ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS)
    child.once('exit', (code, signal) => reject(new Error(`${name} exited (${signal ?? code}) before it was ready`)))
    started.then(resolve, reject).finally(() => clearTimeout(timer))
  })
}

function forkTs(script: string, env: NodeJS.ProcessEnv): ChildProcess {
  return track(fork(join(ROOT, 'bench', script), [], { cwd: ROOT, execArgv: ['--import', 'tsx'], env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }))
}

export interface Started {
  child: ChildProcess
  url: string
}

/** One of the bench's own servers (bench/child.ts `listen`), started on a free loopback port. */
export async function startServer(script: string, env: NodeJS.ProcessEnv): Promise<Started> {
  const child = forkTs(script, env)
  const port = await onceStarted(child, script, new Promise<number>((resolve) => child.once('message', (m: { port: number }) => resolve(m.port))))
  return { child, url: `http://127.0.0.1:${port}` }
}

let nextCommand = 0

/** Sends one command to a server started with `startServer` (its `onCommand`) and resolves with its answer. */
export function command<T = unknown>(child: ChildProcess, sent: unknown): Promise<T> {
  const commandId = nextCommand++
  return new Promise<T>((resolve, reject) => {
    const onExit = () => reject(new Error('the server exited before it answered'))
    const onMessage = (reply: Partial<CommandReply>) => {
      if (reply.commandId !== commandId) return
      child.off('message', onMessage).off('exit', onExit)
      if (reply.error !== undefined) reject(new Error(reply.error))
      else resolve(reply.result as T)
    }
    child.on('message', onMessage).once('exit', onExit)
    child.send({ commandId, command: sent } satisfies CommandMessage)
  })
}

/** The load generator (bench/load.ts): runs one job at a time. */
export async function startLoad(): Promise<{ child: ChildProcess; run(job: Job): Promise<LoadResult> }> {
  const child = forkTs('load.ts', process.env)
  // Its "ready" comes once it listens for jobs and has loaded autocannon, outside any timing.
  await onceStarted(child, 'load generator', new Promise<void>((resolve) => child.once('message', () => resolve())))
  let next = 0
  return {
    child,
    run(job) {
      const id = next++
      return new Promise((resolve, reject) => {
        const onExit = () => reject(new Error('the load generator exited'))
        const onMessage = (m: { id: number; result?: LoadResult; error?: string }) => {
          if (m.id !== id) return
          child.off('message', onMessage).off('exit', onExit)
          if (m.error) reject(new Error(`load generator: ${m.error}`))
          else resolve(m.result as LoadResult)
        }
        child.on('message', onMessage).once('exit', onExit)
        child.send({ id, job } satisfies JobMessage)
      })
    },
  }
}

export interface Bff extends Started {
  /** From spawning `all-access serve` to its "listening" line. */
  startupMs: number
  /** Its last lines of output, to show why it failed. */
  lastLines(): string
}

/** `node bin/all-access.js serve`, as users run it; its log lines are read (and dropped, unless `onOutput` wants them) as a terminal would. */
export async function startBff(env: NodeJS.ProcessEnv, onOutput?: (chunk: string) => void, nodeOptions: string[] = []): Promise<Bff> {
  const started = performance.now()
  // BENCH_CPU_PROF=<folder>: each BFF writes a V8 CPU profile there when it stops (profile before optimising).
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []
  const child = track(spawn(process.execPath, [...profile, ...nodeOptions, CLI, 'serve'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] }))
  // Its request log keeps flowing during the load: kept as a short tail, cheaply, for error messages.
  let tail = ''
  let url: string | undefined
  const listening = new Promise<string>((resolve) => {
    for (const stream of [child.stdout!, child.stderr!]) {
      stream.setEncoding('utf8').on('data', (chunk: string) => {
        tail = (tail + chunk).slice(-4000)
        onOutput?.(chunk)
        const match = url ? null : /all-access listening on (\S+)/.exec(tail)
        if (match) resolve((url = match[1]))
      })
    }
  })
  const lastLines = () => tail.trim().split('\n').slice(-20).join('\n  ')
  try {
    const address = await onceStarted(child, 'all-access serve', listening)
    return { child, url: address, startupMs: performance.now() - started, lastLines }
  } catch (error) {
    await stop(child)
    throw new Error(`${(error as Error).message}; its last lines:\n  ${lastLines()}`)
  }
}

/** One `all-access` CLI command (e.g. `providers add`), failing with its message. */
export function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI, ...args], { cwd: ROOT, env, timeout: START_TIMEOUT_MS }, (error, stdout, stderr) => {
      if (error) reject(new Error(`all-access ${args.slice(0, 2).join(' ')} failed: ${stderr.trim() || error.message}`))
      else resolve(stdout)
    })
  })
}

export const freePort = portPicker(FIRST_FREE_PORT, EPHEMERAL_PORTS_START - FIRST_FREE_PORT)

let microsPerTick: number | undefined

/**
 * CPU time (user + system, every thread: the libuv pool running SQLite included) a process has
 * used so far, in microseconds, from /proc; NaN where there is no /proc.
 */
export function cpuMicros(pid: number | undefined): number {
  try {
    microsPerTick ??= 1e6 / (Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100)
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name, which may itself hold spaces: utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) * microsPerTick
  } catch {
    return NaN
  }
}

/**
 * A run's scratch folder and what must be undone when it ends, normally or on SIGINT/SIGTERM:
 * children stopped first (the BFFs let go of their databases), then the steps added (scratch
 * databases dropped, servers closed), last added first, then the folder removed.
 */
export function scratchRun(prefix: string, progress: (line: string) => void) {
  const folder = mkdtempSync(join(tmpdir(), prefix))
  const steps: (() => Promise<void>)[] = []
  let cleaning: Promise<void> | undefined
  const run = {
    folder,
    interrupted: false,
    onCleanUp(step: () => Promise<void>): void {
      steps.push(step)
    },
    cleanUp(): Promise<void> {
      cleaning ??= (async () => {
        await stopAll()
        for (const step of steps.reverse()) await step().catch((error: Error) => progress(`clean-up: ${error.message}`))
        rmSync(folder, { recursive: true, force: true })
      })()
      return cleaning
    },
  }
  process.once('exit', killAllNow)
  // `on`, not `once`: tsx may pass a signal on twice, and a second one with no listener would end the
  // run before its clean-up (which is bounded) has dropped the scratch database.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      run.interrupted = true
      progress(`${signal}: cleaning up`)
      void run.cleanUp().finally(() => process.exit(130))
    })
  }
  return run
}
