import { defineConfig } from 'vitest/config'

// One config for the demo SPA (built into dist/demo and served by the BFF), its dev server
// (which proxies the BFF's routes so cookies stay first-party) and the test runner.
const bff = process.env.ALLACCESS_BFF_URL ?? 'http://localhost:3000'

export default defineConfig({
  root: 'client/demo',
  build: { outDir: '../../dist/demo', emptyOutDir: true },
  server: {
    proxy: {
      '/auth': { target: bff, changeOrigin: false },
      '/api': { target: bff, changeOrigin: false },
    },
  },
  test: {
    root: '.',
    include: ['test/**/*.test.{ts,tsx}'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
})
