import { describe, expect, it } from 'vitest'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

/** What a host app gets from `npm install all-access` after the build (`npm test` builds first). */
describe('the package entry points', () => {
  it('all-access/server exports the BFF, the clients and the store', async () => {
    const server = await import('all-access/server')
    expect(typeof server.createAllAccess).toBe('function')
    expect(typeof server.OAuthClient).toBe('function')
    expect(typeof server.OAuth2Client).toBe('function')
    expect(typeof server.OidcClient).toBe('function')
    expect(typeof server.openStore).toBe('function')
  })

  it('all-access/shared exports the contract, every error code included', async () => {
    const shared = await import('all-access/shared')
    expect(shared.ERROR_CODES).toContain('reauth_required')
    expect(shared.routes.login('github')).toBe('/auth/login/github')
  })

  it('takes React and TanStack Query as peer dependencies, never its own', () => {
    const manifest = JSON.parse(readFileSync('package.json', 'utf8')) as Record<string, Record<string, string> | undefined>
    for (const name of ['react', '@tanstack/react-query']) {
      expect(manifest.peerDependencies?.[name], name).toEqual(expect.any(String))
      expect(manifest.dependencies?.[name], name).toBeUndefined()
    }
  })

  it('all-access/client exports the hooks and keeps React and TanStack Query out of its bundle', async () => {
    const client = await import('all-access/client')
    for (const name of ['AllAccessProvider', 'LoginButton', 'useSession', 'useProviders', 'useLogin', 'useLogout', 'useDisconnect', 'useProviderApi', 'useProviderMutation', 'useAuthError', 'AllAccessClientError']) {
      expect(client).toHaveProperty(name)
    }
    const bundle = readFileSync('dist/client-lib/all-access-client.js', 'utf8')
    expect(bundle).toMatch(/from "@tanstack\/react-query"/)
    expect(bundle).toMatch(/from "react"/)
    expect(bundle).not.toContain('QueryObserver')
  })

  it("all-access/client opens with the 'use client' directive, so a server component can render AllAccessProvider across the boundary (Next.js's App Router), also once minified", async () => {
    const bundle = readFileSync('dist/client-lib/all-access-client.js', 'utf8')
    expect(bundle.startsWith('"use client";\n') || bundle.startsWith("'use client';\n")).toBe(true)
    const { transform } = await import('esbuild')
    expect((await transform(bundle, { minify: true, format: 'esm' })).code).toMatch(/^"use client";/)
  })

  it("all-access/client's declarations name React's types instead of spelling them out, so they hold with @types/react 18 as with 19", () => {
    // A return type left to inference (React.createElement('button', …)) is written out in full: every
    // attribute and event handler of the @types/react the package was built with, some of which
    // (ToggleEventHandler, SubmitEventHandler, ChangeEventHandler's second parameter) 18 lacks.
    for (const file of readdirSync('dist/client').filter((name) => name.endsWith('.d.ts'))) {
      expect(readFileSync(join('dist/client', file), 'utf8'), file).not.toMatch(/EventHandler</)
    }
  })
})
