import { cpSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { Worker } from 'node:worker_threads'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'
import { scratchFolder } from './support/scratch-folder.ts'

/**
 * The published declarations as a TypeScript app meets them: programs using the documented API
 * (README.md), compiled against dist/ with the strictest settings apps turn on, the package's own
 * .d.ts files checked too (`skipLibCheck: false`), and with `declaration: true`, which must be able
 * to name every type an app's exported value has through the package's entries.
 */

const server = `
import Koa from 'koa'
import { createAllAccess, optionsFromEnv, staticSite, loadConfig, defaultHooks, refuseUnreadableRequest, AllAccessError, OAuth2Client, OidcClient } from 'all-access/server'
import type { AllAccessHooks, AllAccessOptions, ClientOverrides, Logger, ParsedToken } from 'all-access/server'

class MyClient extends OAuth2Client {
  override parseRawToken(raw: string, contentType?: string | null): ParsedToken | null {
    return super.parseRawToken(raw, contentType)
  }
}
const clients: ClientOverrides = { myprovider: MyClient, other: OidcClient }

export const options = optionsFromEnv(process.env)
const verbose = process.env['VERBOSE'] === '1'
export const allAccess = await createAllAccess({
  ...options,
  clients,
  // Optional values of the app's own, passed on as they are (exactOptionalPropertyTypes).
  databaseUrl: process.env['DATABASE_URL'],
  log: verbose ? options.log : undefined,
  proxy: { pipeDirectly: verbose || undefined },
  hooks: {
    async onLogin({ provider, account, isNew, ctx }) {
      ctx.state['signedIn'] = true
      if (isNew && provider.name === 'twitter') {
        await account.apiClient.request('post', 'https://api.twitter.com/1.1/statuses/update.json', { body: { status: 'I just joined an awesome new site!' } })
      }
    },
    getUserId: ({ profile }) => String(profile['id']),
    // A hook of the app's own only when it wants one: undefined is the default's.
    getErrorRedirect: verbose ? ({ code }) => '/?failed=' + code : undefined,
  },
})
export const spelledOut: AllAccessOptions = { publicUrl: 'http://localhost:3000', databaseUrl: 'sqlite://./app.sqlite3', keys: options.keys, cleanUpEveryMs: 0 }
export const config = loadConfig(process.env)
export const hooks = { ...defaultHooks, getOrCreateUser: (args: Parameters<AllAccessHooks['getOrCreateUser']>[0]) => defaultHooks.getOrCreateUser(args) }
export const errorRedirect = (args: Parameters<AllAccessHooks['getErrorRedirect']>[0]) => args
export const site = (options: Parameters<typeof staticSite>[1]) => options
export const settings = { refresh: options.refresh, loginLimits: options.loginLimits, keys: options.keys }

const app = new Koa()
app.use(allAccess.middleware)
app.use(staticSite('dist'))
const log: Logger | undefined = options.log
const listening = app.listen(3000)
if (log) listening.on('clientError', refuseUnreadableRequest(log))
export const account = await allAccess.accountFor(1, 'github')
const repos = await account?.apiClient.request<{ name: string }[]>('get', 'https://api.github.com/user/repos', { query: { per_page: 5 } })
export const first = repos?.body[0]?.name
// The app's own optional values passed on to account.apiClient.request and staticSite (exactOptionalPropertyTypes).
const page = process.env['PAGE']
export const paged = await account?.apiClient.request('get', 'https://api.github.com/user/repos', { query: page ? { page } : undefined, timeoutMs: verbose ? 5_000 : undefined })
export const site2 = staticSite('dist', { stalledAnswerMs: verbose ? 60_000 : undefined })
try {
  await allAccess.cleanUp()
} catch (error) {
  if (error instanceof AllAccessError) console.log(error.code)
}
await allAccess.close()
`

const client = `
import { QueryClient, useQueryClient } from '@tanstack/react-query'
import {
  AllAccessProvider, LoginButton, useSession, useSessionExpiry, useProviders, useLogin, useLogout, useDisconnect, useProviderApi,
  useProviderMutation, useAuthError, useAllAccessClient, allAccessKeys, isReauthRequired, AllAccessClientError, ProviderApiError,
  createAllAccessClient,
} from 'all-access/client'
import type { ApiQuery, ErrorCode, LoginPrompt, ProviderMutationVariables } from 'all-access/client'

function Repos() {
  const repos = useProviderApi<{ name: string }[]>('github', 'user/repos', { query: { per_page: 5 } })
  if (isReauthRequired(repos.error)) return <LoginButton provider="github">Reconnect GitHub</LoginButton>
  const names = useProviderApi('github', 'user/repos', { select: (data: { name: string }[]) => data.map((repo) => repo.name), staleTime: 1000 })
  return <ul title={names.data?.[0]}>{repos.data?.map((repo) => <li key={repo.name}>{repo.name}</li>)}</ul>
}

function Post() {
  const queryClient = useQueryClient()
  const post = useProviderMutation<{ id: number }, { previous: unknown }>('github', {
    onMutate: async (variables: ProviderMutationVariables) => {
      await queryClient.cancelQueries({ queryKey: allAccessKeys.api('github', variables.path) })
      return { previous: queryClient.getQueryData(allAccessKeys.api('github', variables.path)) }
    },
    onError: (_error, variables, context) => context && queryClient.setQueryData(allAccessKeys.api('github', variables.path), context.previous),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: allAccessKeys.api('github', 'user/repos') }),
  })
  const disconnect = useDisconnect({ onError: (error) => console.log(error.message) })
  return (
    <>
      <button onClick={() => post.mutate({ path: 'user/repos', method: 'PATCH', json: { name: 'x' } })}>Post</button>
      <button onClick={() => post.mutate({ path: 'statuses/update.json', form: { status: 'hi' } })}>Tweet</button>
      <button onClick={() => disconnect.mutate('github')}>Disconnect</button>
    </>
  )
}

function Errors() {
  const authError = useAuthError()
  const { secondsLeft, ended } = useSessionExpiry()
  const providers = useProviders({ select: (list) => list.map((provider) => provider.displayName) })
  const { error } = useProviderApi('github', 'user')
  let code: ErrorCode | number | null = null
  if (error instanceof AllAccessClientError) code = error.code
  else if (error instanceof ProviderApiError) code = error.status
  const { login } = useLogin()
  const signIn = () => login('sandbox-oidc', { popup: true, prompt: 'none' }).catch((error) => error.code)
  return (
    <p onClick={signIn}>
      {authError && <button onClick={authError.dismiss}>{authError.code}: {authError.message}</button>}
      {secondsLeft} {String(ended)} {code} {providers.data?.join(', ')}
    </p>
  )
}

// A component and a hook of the app's own that pass their optional props on (exactOptionalPropertyTypes).
export function SignIn({ provider, next, popup, prompt }: { provider: string; next?: string; popup?: boolean; prompt?: LoginPrompt }) {
  const { login, loginUrl } = useLogin()
  return (
    <a href={loginUrl(provider, { next, prompt })} onClick={() => void login(provider, { next, popup, prompt })}>
      <LoginButton provider={provider} next={next} popup={popup} prompt={prompt} className="sign-in" />
    </a>
  )
}
export const useApi = <T,>(path: string, query?: ApiQuery, headers?: Record<string, string>) => useProviderApi<T>('github', path, { query, headers })
export const useIdle = (slide?: boolean) => useSession({ slide, select: (session) => session.authenticated && session.user })
export const bff = createAllAccessClient({ baseUrl: process.env['BFF_URL'] })

// Hooks of the app's own, exported with inferred types.
export const useMySession = () => useSession()
export const useMyLogout = () => useLogout<{ at: number }>({ onMutate: () => ({ at: Date.now() }) })
export const useRepos = () => useProviderApi<{ name: string }[]>('github', 'user/repos')
export const usePost = () => useProviderMutation('github')
export const useClient = () => useAllAccessClient()

function App() {
  const session = useSession()
  const logout = useLogout()
  if (session.isPending) return null
  if (!session.data?.authenticated) return <LoginButton provider="github" next="/" />
  return (
    <>
      <p>Hello {session.data.user.displayName}</p>
      <Repos />
      <Post />
      <Errors />
      <button onClick={() => logout.mutate({ providerLogout: true })}>Sign out</button>
    </>
  )
}

export function Root({ queryClient, baseUrl }: { queryClient?: QueryClient; baseUrl?: string }) {
  return (
    <AllAccessProvider queryClient={queryClient} baseUrl={baseUrl}>
      <App />
    </AllAccessProvider>
  )
}
`

// An app as npm lays it out: the package (its manifest and dist/, as `npm pack` ships them, built by
// `npm run build`) copied into the app's node_modules, so that a type the app's declarations would
// name from its files is as unportable as in a real app; React, Koa, their types and the package's
// own dependencies from the checkout's node_modules, found by walking up from the app.
const scratch = scratchFolder('aa-consumer-types-')
const folder = join(scratch, 'app')
mkdirSync(join(folder, 'node_modules', 'all-access'), { recursive: true })
symlinkSync(resolve('node_modules'), join(scratch, 'node_modules'), 'junction')
cpSync('package.json', join(folder, 'node_modules', 'all-access', 'package.json'))
cpSync('dist', join(folder, 'node_modules', 'all-access', 'dist'), { recursive: true })
writeFileSync(join(folder, 'package.json'), JSON.stringify({ name: 'host-app', private: true, type: 'module' }))

/** What TypeScript says of the app's files, compiled off this thread (see the worker's own words). */
function problems(files: Record<string, string>, options: ts.CompilerOptions): Promise<string[]> {
  const names = Object.entries(files).map(([name, code]) => (writeFileSync(join(folder, name), code), join(folder, name)))
  const compilerOptions: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    jsx: ts.JsxEmit.ReactJSX,
    strict: true,
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    noPropertyAccessFromIndexSignature: true,
    noImplicitOverride: true,
    verbatimModuleSyntax: true,
    isolatedModules: true,
    skipLibCheck: false,
    declaration: true,
    emitDeclarationOnly: true,
    lib: ['lib.es2023.d.ts', 'lib.dom.d.ts', 'lib.dom.iterable.d.ts'],
    types: ['node'],
    ...options,
  }
  const worker = new Worker(new URL('./support/typescript-app-compile.mjs', import.meta.url), { workerData: { names, options: compilerOptions, folder } })
  return new Promise((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
    worker.once('exit', (code) => reject(new Error(`the compile ended (exit ${code}) without an answer`)))
  })
}

// A program takes 10 s on a quiet machine, and three times that on a loaded one.
describe('the published declarations, in a TypeScript app', () => {
  it('compile with moduleResolution bundler, strict and exactOptionalPropertyTypes, the package checked', async () => {
    expect(await problems({ 'server.ts': server, 'client.tsx': client }, { module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler })).toEqual([])
  }, 120_000)

  it('compile with moduleResolution nodenext in an ES module app ("type": "module")', async () => {
    expect(await problems({ 'server.ts': server, 'client.tsx': client }, { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext })).toEqual([])
  }, 120_000)

  it('tell a CommonJS app under node16 that the package is an ES module', async () => {
    const found = await problems({ 'server.cts': `import { createAllAccess } from 'all-access/server'\nexport const make = createAllAccess\n` }, {
      module: ts.ModuleKind.Node16,
      moduleResolution: ts.ModuleResolutionKind.Node16,
      verbatimModuleSyntax: false,
    })
    expect(found).toEqual([expect.stringContaining('TS1479 The current file is a CommonJS module whose imports will produce \'require\' calls; however, the referenced file is an ECMAScript module')])
  }, 120_000)
})
