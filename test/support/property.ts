import type fc from 'fast-check'

/**
 * fast-check's parameters for `runs` generated cases. A failure's message names the seed and path
 * that found it; `FC_SEED=<seed> FC_PATH=<path> npx vitest run <file>` replays exactly that case.
 */
export function cases(runs: number): fc.Parameters<unknown> {
  const seed = process.env.FC_SEED
  return { numRuns: runs, ...(seed === undefined ? {} : { seed: Number(seed), path: process.env.FC_PATH }) }
}
