import { beforeAll, describe, expect, it } from 'vitest'
import { execFile, spawn } from 'node:child_process'
import { cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { generateKey } from '../server/crypto/keys.ts'
import { launchChromium } from './support/chromium.ts'
import { freePort } from './support/demo-server.ts'
import { migrationSource } from '../migrations/index.ts'
import { scratchFolder } from './support/scratch-folder.ts'

const ROOT = resolve('.')
const EXAMPLE = join(ROOT, 'examples', 'koa-react')
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm'

/**
 * What a team gets from `npm install all-access`: the package packed with `npm pack` (from the
 * dist/ that `npm test` builds first), installed into a new app with production dependencies only.
 */
describe('the packed package installed into an app', () => {
  let work: string
  let app: string
  let tarball: string
  const keys = generateKey()
  let env: NodeJS.ProcessEnv

  /** Runs a command in the app without blocking the test worker (vitest talks to it meanwhile). */
  const run = (command: string, args: string[], extra: NodeJS.ProcessEnv = {}, cwd = app, timeout = 120_000) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((done) => {
      execFile(command, args, { cwd, env: { ...env, ...extra }, encoding: 'utf8', timeout, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) =>
        done({ status: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr }),
      )
    })
  const allAccess = (args: string[], extra: NodeJS.ProcessEnv = {}) => run(process.execPath, [join(app, 'node_modules', '.bin', 'all-access'), ...args], extra)

  beforeAll(async () => {
    work = scratchFolder('aa-packed-')
    env = { ...process.env }
    const pack = await run(NPM, ['pack', '--ignore-scripts', '--pack-destination', work], {}, ROOT)
    if (pack.status !== 0) throw new Error(`npm pack failed:\n${pack.stderr}`)
    tarball = readdirSync(work).find((file) => file.endsWith('.tgz'))!
    app = join(work, 'app')
    mkdirSync(app)
    writeFileSync(
      join(app, 'package.json'),
      // Koa as the README's "Mounting the BFF in your Koa app" installs it: the app's server imports it.
      JSON.stringify({ name: 'host-app', private: true, type: 'module', dependencies: { 'all-access': `file:../${tarball}`, koa: '^3.3.0' }, allowScripts: { sqlite3: true } }, null, 2),
    )
    env = { ...process.env, NODE_ENV: 'production', ALLACCESS_KEYS: keys, DATABASE_URL: 'sqlite://./data/app.sqlite3', npm_config_audit: 'false', npm_config_fund: 'false' }
    const install = await run(NPM, ['install', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund'], {}, app, 600_000)
    if (install.status !== 0) throw new Error(`npm install failed:\n${install.stdout}\n${install.stderr}`)
  }, 660_000)

  it('installs no build tool, no sandbox provider and no PostgreSQL driver, and no TypeScript source', async () => {
    const tree = (await run(NPM, ['ls', '--omit=dev', '--all', '--parseable'])).stdout
    for (const name of ['tsx', 'esbuild', 'oidc-provider', 'vite', 'pg', 'typescript']) expect(tree.split('\n').filter((line) => line.endsWith(`/node_modules/${name}`))).toEqual([])
    const installed = join(app, 'node_modules', 'all-access')
    expect(readdirSync(installed).sort()).toEqual(['README.md', 'bin', 'dist', 'package.json'])
    expect(existsSync(join(installed, 'dist', 'server', 'serve.js'))).toBe(true)
  })

  it('migrates, adds a provider and serves it, from dist/ with no TypeScript compiled', async () => {
    expect(await allAccess(['migrate'])).toMatchObject({ status: 0, stdout: `applied ${(await migrationSource.getMigrations([])).join(', ')}\n` })
    const added = await allAccess(['providers', 'add', 'acme', '--authorization-url', 'https://id.acme.example/authorize', '--access-token-url', 'https://id.acme.example/token', '--profile-url', 'https://id.acme.example/me', '--client-id', 'id', '--client-secret', 'secret'])
    expect(added.status).toBe(0)
    const port = await freePort()
    const serve = spawn(process.execPath, [join(app, 'node_modules', '.bin', 'all-access'), 'serve'], { cwd: app, env: { ...env, PORT: String(port), HOST: '127.0.0.1', PUBLIC_URL: `http://localhost:${port}` } })
    try {
      await new Promise<void>((ready, fail) => {
        let output = ''
        serve.stdout.on('data', (chunk: Buffer) => (output += chunk) && output.includes('all-access listening on') && ready())
        serve.stderr.on('data', (chunk: Buffer) => (output += chunk))
        serve.once('exit', (code) => fail(new Error(`serve exited ${code}: ${output}`)))
      })
      const providers = await (await fetch(`http://127.0.0.1:${port}/auth/providers`)).json()
      expect(providers).toEqual({ providers: [{ name: 'acme', displayName: 'Acme', protocol: 'oauth2' }] })
    } finally {
      serve.kill('SIGTERM')
    }
  })

  it('says in one line what to install for --sandbox and for a postgres:// DATABASE_URL', async () => {
    // On a free port: a busy 3000 (a demo left running) would be the one line said instead.
    expect(await allAccess(['serve', '--sandbox'], { PORT: String(await freePort()) })).toMatchObject({ status: 2, stderr: 'all-access: serve --sandbox needs the oidc-provider package: npm install oidc-provider\n' })
    expect(await allAccess(['migrate'], { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test' })).toMatchObject({
      status: 2,
      stderr: 'all-access: DATABASE_URL is a postgres:// URL, which needs the pg package: npm install pg\n',
    })
  })

  it("says in one line how to get sqlite3's native binding when npm skipped its install script (npm 12 without allowScripts)", async () => {
    const build = join(app, 'node_modules', 'sqlite3', 'build')
    renameSync(build, `${build}-skipped`)
    try {
      const listed = await allAccess(['providers', 'list'])
      expect(listed.status).toBe(2)
      expect(listed.stderr).toMatch(/^all-access: DATABASE_URL is a sqlite:\/\/ URL, and the sqlite3 package cannot load \(.*\): if npm skipped its install script, allow it with npm install-scripts approve sqlite3, then npm rebuild sqlite3\n$/)
    } finally {
      renameSync(`${build}-skipped`, build)
    }
    // The README's install steps name the same command.
    expect(readFileSync('README.md', 'utf8').replace(/\n/g, ' ')).toContain('npm install-scripts approve sqlite3')
  })

  it('mounts all-access/server in a Koa app of its own, configured from the environment', async () => {
    const port = await freePort()
    writeFileSync(
      join(app, 'server.js'),
      `import Koa from 'koa'
import { createAllAccess, optionsFromEnv } from 'all-access/server'

const allAccess = await createAllAccess({ ...optionsFromEnv(process.env) })
const app = new Koa()
app.use(allAccess.middleware)
app.use((ctx) => { if (ctx.path === '/hello') ctx.body = { hello: 'from the host app' } })
const server = app.listen(${port}, '127.0.0.1', async () => {
  const own = await (await fetch('http://127.0.0.1:${port}/hello')).json()
  const providers = await (await fetch('http://127.0.0.1:${port}/auth/providers')).json()
  console.log(JSON.stringify({ own, providers }))
  server.close()
  await allAccess.close()
})
`,
    )
    const mounted = await run(process.execPath, ['server.js'], { PUBLIC_URL: `http://localhost:${port}` })
    expect(mounted.stderr).toBe('')
    // Its stdout also holds the BFF's request log: the script's own answer is the line of JSON.
    const answer = mounted.stdout.split('\n').find((line) => line.startsWith('{'))!
    expect(JSON.parse(answer)).toEqual({ own: { hello: 'from the host app' }, providers: { providers: [{ name: 'acme', displayName: 'Acme', protocol: 'oauth2' }] } })
  })

  it('builds all-access/client into a Vite app', async () => {
    // The app's own front-end tools and React, as its devDependencies would give them.
    for (const name of ['react', 'react-dom', '@tanstack/react-query']) {
      mkdirSync(join(app, 'node_modules', ...name.split('/').slice(0, -1)), { recursive: true })
      symlinkSync(join(ROOT, 'node_modules', name), join(app, 'node_modules', name))
    }
    mkdirSync(join(app, 'src'))
    writeFileSync(join(app, 'index.html'), '<!doctype html><div id="root"></div><script type="module" src="/src/main.js"></script>\n')
    writeFileSync(
      join(app, 'src', 'main.js'),
      `import { createElement as h } from 'react'
import { createRoot } from 'react-dom/client'
import { AllAccessProvider, LoginButton, useSession } from 'all-access/client'

function App() {
  const session = useSession()
  return session.data?.authenticated ? h('p', null, 'Signed in') : h(LoginButton, { provider: 'acme' })
}
createRoot(document.getElementById('root')).render(h(AllAccessProvider, null, h(App)))
`,
    )
    const build = await run(process.execPath, [join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--logLevel', 'error'])
    expect(build.status, build.stderr).toBe(0)
    const assets = readdirSync(join(app, 'dist', 'assets')).filter((file) => file.endsWith('.js'))
    expect(assets).toHaveLength(1)
    expect(readFileSync(join(app, 'dist', 'assets', assets[0]), 'utf8')).toContain('/auth/session')
  })

  it('installs examples/koa-react from the tarball, builds its SPA with Vite, and signs in through the sandbox in Chromium', async () => {
    const example = join(work, 'koa-react')
    cpSync(EXAMPLE, example, { recursive: true, filter: (path) => !/[/\\](node_modules|dist|data)$/.test(path) })
    const manifest = JSON.parse(readFileSync(join(example, 'package.json'), 'utf8'))
    manifest.dependencies['all-access'] = `file:../${tarball}`
    writeFileSync(join(example, 'package.json'), JSON.stringify(manifest, null, 2))
    // Seeded with the app's production tree from the same tarball, so sqlite3, which has no
    // prebuilt binary offline, is not compiled a second time; the rest (its devDependencies too:
    // Vite builds the SPA, oidc-provider runs the sandbox) comes from npm's cache.
    cpSync(join(app, 'node_modules'), join(example, 'node_modules'), { recursive: true, filter: (path) => !lstatSync(path).isSymbolicLink() })
    const install = await run(NPM, ['install', '--include=dev', '--prefer-offline', '--no-audit', '--no-fund'], { NODE_ENV: 'development' }, example, 600_000)
    expect(install.status, install.stderr).toBe(0)
    const build = await run(NPM, ['run', 'build', '--', '--logLevel', 'error'], {}, example)
    expect(build.status, build.stderr).toBe(0)

    const port = await freePort()
    const url = `http://localhost:${port}`
    const server = spawn(process.execPath, ['server.js', '--sandbox'], {
      cwd: example,
      env: { ...env, PORT: String(port), HOST: '127.0.0.1', PUBLIC_URL: url, DATABASE_URL: 'sqlite://./data/example.sqlite3' },
    })
    let output = ''
    const exited = new Promise<number | null>((done) => server.once('exit', (code) => done(code)))
    const browser = await launchChromium()
    try {
      await new Promise<void>((ready, fail) => {
        server.stdout.on('data', (chunk: Buffer) => (output += chunk) && output.includes('example listening on') && ready())
        server.stderr.on('data', (chunk: Buffer) => (output += chunk))
        void exited.then((code) => fail(new Error(`the example exited ${code}: ${output}`)))
      })
      const page = await browser.newPage()
      const response = await page.goto(url)
      expect(response?.headers()['content-security-policy']).toContain("frame-ancestors 'none'")
      await page.getByText('The app says: from the Koa app').waitFor()
      await page.getByRole('button', { name: 'Sign in with Sandbox OpenID' }).click()
      await page.getByLabel('User').selectOption('alice')
      await page.getByRole('button', { name: 'Sign in' }).click()
      await page.getByRole('button', { name: 'Allow' }).click()
      await page.getByText('Signed in as Alice Liddell').waitFor()
      const profile = page.getByLabel("Profile from the provider's API")
      await profile.getByText('alice@sandbox.example').waitFor()
      expect(JSON.parse(await profile.innerText())).toEqual({ sub: 'alice', name: 'Alice Liddell', email: 'alice@sandbox.example' })
    } finally {
      await browser.close()
      server.kill('SIGTERM')
    }
    // Its SIGTERM handler closes the server, the sandbox and all-access: nothing keeps it running.
    expect(await exited, output).toBe(0)
  }, 600_000)
})
