import { defineConfig } from 'vite'

// `npm run dev` serves the SPA with hot reload on http://localhost:5173 and forwards the BFF's
// routes, and the app's own, to the Koa app of `npm run dev:bff`. The browser talks to this one
// origin only, so the session cookie is first-party, and the BFF, whose PUBLIC_URL is this
// origin, sends providers back here and accepts the Origin of the SPA's POSTs.
const bff = process.env.BFF_URL ?? 'http://localhost:4100'

export default defineConfig({
  esbuild: { jsx: 'automatic' },
  // One React and one TanStack Query for the app and all-access/client, also when all-access is a
  // link to a checkout (this example's file:../..), whose own node_modules hold other copies.
  resolve: { dedupe: ['react', 'react-dom', '@tanstack/react-query'] },
  server: {
    port: 5173,
    strictPort: true,
    proxy: { '/auth': bff, '/api': bff, '/hello': bff },
  },
})
