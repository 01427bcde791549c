import { beforeAll, describe, expect, it } from 'vitest'
import { execFile } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { scratchFolder } from './support/scratch-folder.ts'

const ROOT = resolve('.')
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm'
const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { peerDependencies: Record<string, string> }

/**
 * The lowest versions package.json's peerDependencies allow (`react >=18`, `@tanstack/react-query
 * >=5`): many apps are still on React 18, and a call of an API TanStack Query added after 5.0 would
 * break them without a word from the tests, which otherwise run on the newest.
 */
const FLOOR = { react: '18.3.1', 'react-dom': '18.3.1', '@tanstack/react-query': '5.0.0' }

const run = (command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, timeout: number) =>
  new Promise<{ status: number | null; output: string }>((done) => {
    execFile(command, args, { cwd, env, encoding: 'utf8', timeout, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) =>
      done({ status: error ? ((error as { code?: number }).code ?? null) : 0, output: stdout + stderr }),
    )
  })

describe('the React library on the lowest React and TanStack Query it allows', () => {
  let folder: string

  beforeAll(async () => {
    folder = scratchFolder('aa-peer-floor-')
    // The test renderer the project's tests use, at the project's version: it supports React 18 and 19.
    const renderer = JSON.parse(readFileSync(join(ROOT, 'node_modules', '@testing-library', 'react', 'package.json'), 'utf8')).version as string
    writeFileSync(join(folder, 'package.json'), JSON.stringify({ name: 'peer-floor', private: true, dependencies: { ...FLOOR, '@testing-library/react': renderer } }))
    const install = await run(NPM, ['install', '--prefer-offline', '--no-audit', '--no-fund'], folder, process.env, 300_000)
    if (install.status !== 0) throw new Error(`npm install failed:\n${install.output}`)
  }, 310_000)

  it('the floor is what package.json allows, and no lower', () => {
    expect(manifest.peerDependencies).toMatchObject({ react: '>=18', '@tanstack/react-query': '>=5' })
    for (const [name, version] of Object.entries(FLOOR)) {
      expect(JSON.parse(readFileSync(join(folder, 'node_modules', name, 'package.json'), 'utf8')).version).toBe(version)
    }
  })

  it("passes the library's own React tests, every hook and LoginButton, on React 18.3 and TanStack Query 5.0", async () => {
    const vitest = join(ROOT, 'node_modules', 'vitest', 'vitest.mjs')
    const env = { ...process.env, ALLACCESS_PEER_FLOOR: folder, ALLACCESS_PEER_FLOOR_REACT: FLOOR.react }
    const { status, output } = await run(process.execPath, [vitest, 'run', '--config', 'test/support/peer-floor.config.ts'], ROOT, env, 600_000)
    expect(output.replace(/\x1b\[[\d;]*m/g, '')).toMatch(/Test Files {2}\d+ passed \(\d+\)/)
    expect(status, output).toBe(0)
  }, 610_000)
})
