// @vitest-environment jsdom
import { expect, it } from 'vitest'
import { join } from 'node:path'
import * as React from 'react'
import * as ReactDOM from 'react-dom'
import { QueryClient } from '@tanstack/react-query'
import { render } from '@testing-library/react'

// Run by test/peer-floor.test.ts: proof that this run's imports are the lowest versions, not the project's own.
it('renders with the React and TanStack Query installed in the peer-floor folder', async () => {
  const folder = process.env.ALLACCESS_PEER_FLOOR!
  expect([React.version, ReactDOM.version]).toEqual([process.env.ALLACCESS_PEER_FLOOR_REACT, process.env.ALLACCESS_PEER_FLOOR_REACT])
  const installed = await import(join(folder, 'node_modules', '@tanstack', 'react-query'))
  expect(QueryClient).toBe(installed.QueryClient)
  expect(render(<p>{React.version}</p>).container.textContent).toBe(React.version)
})
