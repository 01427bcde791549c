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
