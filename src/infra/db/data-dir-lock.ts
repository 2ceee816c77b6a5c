import { randomUUID } from 'node:crypto'
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join, resolve } from 'node:path'

/**
 * The embedded database has one owner. PGlite keeps its pages in memory and writes them back on
 * its own schedule: a second process on the same directory starts and answers, and one of the
 * two loses its writes at the next restart. So the first opener leaves a lock file in the data
 * directory, created atomically, and every later opener is refused while its owner runs.
 */
export const LOCK_FILE = 'openpnc.lock'

export interface LockOwner {
  pid: number
  host: string
  /** ISO time the owner took the lock */
  since: string
  /** tells this owner's file from a successor's with the same pid */
  nonce: string
}

export class DataDirInUseError extends Error {
  constructor(
    readonly dataDir: string,
    readonly owner: LockOwner | null,
    readonly lockFile: string,
  ) {
    const who = owner ? `process ${owner.pid} on ${owner.host} since ${owner.since}` : 'another process (its lock file is unreadable)'
    const sameHost = owner?.host === hostname()
    super(
      `the embedded database in ${dataDir} is in use by ${who}. Stop that server first, or run several servers on PostgreSQL ` +
        `(DATABASE_URL).${sameHost ? '' : ` If that process no longer runs, remove ${lockFile}.`}`,
    )
    this.name = 'DataDirInUseError'
  }
}

/** Nonces of the locks this process holds: a file with our pid but another nonce is a predecessor's. */
const heldHere = new Set<string>()

export interface DataDirLock {
  path: string
  release(): void
}

function readOwner(path: string): LockOwner | null {
  try {
    const owner = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockOwner>
    if (typeof owner.pid !== 'number' || typeof owner.host !== 'string' || typeof owner.since !== 'string') return null
    return { pid: owner.pid, host: owner.host, since: owner.since, nonce: String(owner.nonce ?? '') }
  } catch {
    return null
  }
}

function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0) // signal 0: only asks whether the process exists
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM' // exists, owned by another user
  }
}

/**
 * Takes the data directory's lock or throws DataDirInUseError naming the owner. A lock left by a
 * process that no longer runs on this host (a crash, a kill -9) is taken over; one from another
 * host (a shared volume) cannot be checked, so it is refused with how to clear it.
 */
export function lockDataDir(dataDir: string): DataDirLock {
  const directory = resolve(dataDir)
  mkdirSync(directory, { recursive: true })
  const path = join(directory, LOCK_FILE)
  const me: LockOwner = { pid: process.pid, host: hostname(), since: new Date().toISOString(), nonce: randomUUID() }
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(path, `${JSON.stringify(me)}\n`, { flag: 'wx', mode: 0o644 })
      break
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
    const owner = readOwner(path)
    // Our own pid in a file we did not write: a restarted container's earlier process had it.
    const stale =
      owner !== null && owner.host === me.host && (owner.pid === process.pid ? !heldHere.has(owner.nonce) : !processRuns(owner.pid))
    if (!stale || attempt >= 3) throw new DataDirInUseError(directory, owner, path)
    // Remove the stale file only if it is still the one just read: another starter may have taken
    // it over meanwhile, and its fresh lock must stay.
    if (readOwner(path)?.nonce === owner.nonce) {
      try {
        unlinkSync(path)
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
      }
    }
  }
  heldHere.add(me.nonce)
  // A process that ends without closing the database (an uncaught error) still frees the directory.
  const onExit = () => release()
  process.once('exit', onExit)
  let held = true
  function release() {
    if (!held) return
    held = false
    heldHere.delete(me.nonce)
    process.removeListener('exit', onExit)
    // Only our own file: never a successor's.
    if (readOwner(path)?.nonce !== me.nonce) return
    try {
      unlinkSync(path)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
    }
  }
  return { path, release }
}
