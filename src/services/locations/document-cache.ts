import { LRUCache } from 'lru-cache'

/** Which of a location's two documents (search-document.ts): the full one, or the one trimmed to Plug&Charge. */
export type DocumentKind = 'full' | 'pnc'

/** Bookkeeping per entry beyond its bytes (key, list links, buffer object), for the size budget. */
const ENTRY_OVERHEAD_BYTES = 160

/**
 * One number for a version's two documents. A small integer key is hashed and compared without
 * touching memory, where a string would be built and hashed on every lookup of a search's fifty.
 */
const keyOf = (kind: DocumentKind, version: number) => version * 2 + (kind === 'pnc' ? 1 : 0)

/**
 * Search documents as the bytes geosearch answers with, by document version (migration 0006).
 * A version names one document for ever, so a held copy is never stale and needs no
 * invalidation: a changed location comes back from the search with a new version, which is a
 * miss. Least recently used documents leave first once `maxBytes` is reached.
 *
 * Each document gets its own allocation outside the JavaScript heap: garbage collection never
 * copies it, and no cached document keeps a shared buffer slab (and its neighbours) alive.
 */
export class SearchDocumentCache {
  readonly #cache: LRUCache<number, Buffer> | undefined
  #hits = 0
  #misses = 0

  /** `maxBytes` 0 holds nothing: every document is read from the database. */
  constructor(readonly maxBytes: number) {
    this.#cache =
      maxBytes > 0
        ? new LRUCache({ maxSize: maxBytes, sizeCalculation: (bytes: Buffer) => bytes.length + ENTRY_OVERHEAD_BYTES })
        : undefined
  }

  get(kind: DocumentKind, version: number): Buffer | undefined {
    const bytes = this.#cache?.get(keyOf(kind, version))
    if (bytes) this.#hits++
    else this.#misses++
    return bytes
  }

  /** Keeps a document read from the database and returns it as bytes. Documents are ASCII (searchDocumentJson). */
  set(kind: DocumentKind, version: number, json: string): Buffer {
    const bytes = Buffer.allocUnsafeSlow(json.length)
    bytes.write(json, 0, 'latin1')
    this.#cache?.set(keyOf(kind, version), bytes)
    return bytes
  }

  stats(): { entries: number; bytes: number; hits: number; misses: number } {
    return { entries: this.#cache?.size ?? 0, bytes: this.#cache?.calculatedSize ?? 0, hits: this.#hits, misses: this.#misses }
  }
}
