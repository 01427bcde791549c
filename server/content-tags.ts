import { createHash } from 'node:crypto'
import type { FileHandle } from 'node:fs/promises'
import type { Stats } from 'node:fs'

/** How many files' tags are remembered: far more than a built SPA holds, each some 200 bytes. */
const REMEMBERED_FILES = 1024

/**
 * How long after its last change a file's tag is not remembered. A file rewritten in place at the
 * same size with its time set back (a reproducible build) differs only in its change time, which
 * some file systems keep to the second or coarser: within that, two versions could look the same.
 */
const SETTLING_MS = 2000

/** The bytes read at a time to hash a file. */
const CHUNK = 64 * 1024

/** What tells one version of a file from another without reading it. */
function versionOf(stats: Stats): string {
  return `${stats.size}:${stats.mtimeMs}:${stats.ctimeMs}`
}

/** The tag `etag` (the package @koa/etag uses) gives these bytes, read `size` at most, a chunk at a time. */
async function tagOfBytes(handle: FileHandle, size: number): Promise<string> {
  const hash = createHash('sha1')
  const chunk = Buffer.allocUnsafe(Math.min(CHUNK, Math.max(size, 1)))
  let read = 0
  while (read < size) {
    const { bytesRead } = await handle.read(chunk, 0, Math.min(chunk.length, size - read), read)
    if (bytesRead === 0) break
    hash.update(chunk.subarray(0, bytesRead))
    read += bytesRead
  }
  return `"${read.toString(16)}-${hash.digest('base64').slice(0, 27)}"`
}

/**
 * The content tags of files, each read once per version: requests for the same file while it is
 * read wait for that reading, and a settled file's tag is remembered. Reading the file whole on
 * each request cost a copy of it per request in flight.
 */
export class ContentTags {
  private readonly tags = new Map<string, { version: string; tag: Promise<string> }>()

  /** The tag of the open file's bytes, up to `stats.size`, as `etag` writes it for them. */
  tagOf(handle: FileHandle, stats: Stats): Promise<string> {
    const file = `${stats.dev}:${stats.ino}`
    const version = versionOf(stats)
    const known = this.tags.get(file)
    if (known?.version === version) return known.tag
    const readAt = Date.now()
    const tag = tagOfBytes(handle, stats.size)
    this.tags.delete(file)
    if (this.tags.size >= REMEMBERED_FILES) this.tags.delete(this.tags.keys().next().value!)
    const entry = { version, tag }
    this.tags.set(file, entry)
    const forget = () => {
      if (this.tags.get(file) === entry) this.tags.delete(file)
    }
    // Kept while it is read (its requests share the reading); kept after only if the file had settled.
    tag.then(() => (stats.ctimeMs > readAt - SETTLING_MS ? forget() : undefined), forget)
    return tag
  }
}
