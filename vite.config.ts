import { resolve } from 'node:path'
import { defineConfig } from 'vitest/config'

// One config for the demo SPA (built into dist/demo and served by the BFF), its dev server (which
// proxies the BFF's routes so cookies stay first-party), the React library (`--mode lib`) and the tests.
const bff = process.env.ALLACCESS_BFF_URL ?? 'http://localhost:3000'

export default defineConfig(({ mode }) => ({
  root: mode === 'lib' ? '.' : 'client/demo',
  esbuild: { jsx: 'automatic' },
  build:
    mode === 'lib'
      ? {
          outDir: 'dist/client-lib',
          emptyOutDir: true,
          lib: { entry: resolve('client/index.ts'), formats: ['es'], fileName: () => 'all-access-client.js' },
          minify: 'esbuild',
          rollupOptions: {
            external: ['react', 'react/jsx-runtime', 'react-dom', '@tanstack/react-query'],
            // Hooks and context: a React Server Components app (Next.js's App Router) may render the
            // provider from a server component only across this boundary, as TanStack Query's own.
            output: { banner: "'use client';" },
          },
        }
      : {
          outDir: resolve('dist/demo'),
          emptyOutDir: true,
          rollupOptions: {
            // TanStack Query marks its hooks 'use client' for server-component bundlers; in a browser-only
            // bundle the mark means nothing, and its fifteen warnings buried `npm start`'s own lines.
            onwarn(warning, warn) {
              if (warning.code !== 'MODULE_LEVEL_DIRECTIVE') warn(warning)
            },
          },
        },
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
}))
