import { join } from 'node:path'
import { defineConfig } from 'vitest/config'

/**
 * The React library's tests run again against the lowest React and TanStack Query that package.json's
 * peerDependencies allow, installed by test/peer-floor.test.ts into the folder it names. Every import
 * of them, the test renderer's included, resolves there, so one React serves the whole render.
 */
const folder = process.env.ALLACCESS_PEER_FLOOR
if (!folder) throw new Error('ALLACCESS_PEER_FLOOR names no folder: run this through test/peer-floor.test.ts')

export const PEER_FLOOR_PACKAGES = ['react', 'react-dom', '@tanstack/react-query', '@testing-library/react']

export default defineConfig({
  esbuild: { jsx: 'automatic' },
  resolve: {
    alias: PEER_FLOOR_PACKAGES.map((name) => ({ find: new RegExp(`^${name}(?=/|$)`), replacement: join(folder, 'node_modules', name) })),
  },
  test: {
    root: '.',
    include: ['test/client-*.test.tsx', 'test/support/peer-floor-versions.check.tsx'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // One file at a time: this run shares the machine with the rest of the suite, whose timings it must not upset.
    maxWorkers: 1,
    minWorkers: 1,
  },
})
