import { describe, expect, it } from 'vitest'
import { existsSync, readFileSync } from 'node:fs'

/** README code blocks whose info string names a file (```js examples/koa-react/server.js). */
function namedBlocks(markdown: string): { path: string; code: string }[] {
  return [...markdown.matchAll(/^```\w+ (\S+)\n([\s\S]*?)^```$/gm)].map(([, path, code]) => ({ path, code }))
}

describe("the README's code blocks that name a file", () => {
  const blocks = namedBlocks(readFileSync('README.md', 'utf8'))

  it('name the example server and its Vite configuration', () => {
    expect(blocks.map((block) => block.path)).toEqual(['examples/koa-react/server.js', 'examples/koa-react/vite.config.js'])
  })

  it.each(blocks)('show $path exactly as it is', ({ path, code }) => {
    expect(existsSync(path)).toBe(true)
    expect(code).toBe(readFileSync(path, 'utf8'))
  })
})

/** The packages a README code block imports (`from 'koa'`, `import('all-access/sandbox')`), by package name. */
function importedPackages(markdown: string): string[] {
  const code = [...markdown.matchAll(/^```(?:js|jsx|ts|tsx)\b.*\n([\s\S]*?)^```$/gm)].map(([, block]) => block).join('\n')
  const specifiers = [...code.matchAll(/(?:\bfrom\s+|\bimport\()'([^'.][^']*)'/g)].map(([, specifier]) => specifier).filter((specifier) => !specifier.startsWith('node:'))
  return [...new Set(specifiers.map((specifier) => specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/')))].sort()
}

/** The package names of the README's `npm install` commands (flags, versions and comments left out). */
function installedPackages(markdown: string): Set<string> {
  const commands = [...markdown.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].flatMap(([, block]) => [...block.matchAll(/npm install((?: +[^\s#&;|]+)*)/g)])
  const words = commands.flatMap(([, line]) => line.trim().split(/ +/)).filter((word) => word !== '' && !word.startsWith('-'))
  return new Set(words.map((word) => word.replace(/(?<=.)@.*$/, '')))
}

describe("the README's install commands", () => {
  const markdown = readFileSync('README.md', 'utf8')

  // npm installs no optional peer dependency by itself, and a package the example imports only through
  // all-access's own dependencies (koa) is not there for pnpm or Yarn's Plug'n'Play: an app installs both.
  it("name every package the README's code imports and every peer dependency", () => {
    const peers = Object.keys(JSON.parse(readFileSync('package.json', 'utf8')).peerDependencies)
    const installed = installedPackages(markdown)
    expect([...new Set([...importedPackages(markdown), ...peers])].filter((name) => !installed.has(name)).sort()).toEqual([])
  })
})
