import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import ts from 'typescript'
import { afterAll, describe, expect, it } from 'vitest'

/** The README's React examples (```tsx blocks), in order. */
function tsxBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```tsx\n([\s\S]*?)^```$/gm)].map(([, code]) => code)
}

// Inside the package, so that `all-access/client` resolves as in an app: through package.json's
// exports, to the types `npm run build` publishes (dist/), not to the source.
const folder = mkdtempSync(join(process.cwd(), '.readme-examples-'))
afterAll(() => rmSync(folder, { recursive: true, force: true }))

describe("the README's React examples", () => {
  const blocks = tsxBlocks(readFileSync('README.md', 'utf8'))

  it('are there, each importing what it uses from all-access/client', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(2)
    for (const block of blocks) expect(block).toMatch(/^import .* from 'all-access\/client'$/m)
  })

  it("type-check against the library's published types, as an app's TypeScript reads them", () => {
    const files = blocks.map((code, index) => {
      const file = join(folder, `example-${index + 1}.tsx`)
      writeFileSync(file, code)
      return file
    })
    const program = ts.createProgram(files, {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      jsx: ts.JsxEmit.ReactJSX,
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      lib: ['lib.es2023.d.ts', 'lib.dom.d.ts', 'lib.dom.iterable.d.ts'],
      types: [],
    })
    const problems = ts.getPreEmitDiagnostics(program).map((diagnostic) => {
      const where = diagnostic.file ? `${relative(folder, diagnostic.file.fileName)}:${diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start ?? 0).line + 1}` : ''
      return `${where} ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`
    })
    expect(problems).toEqual([])
  })
})
