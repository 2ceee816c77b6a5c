import assert from 'node:assert/strict'
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { DataDirInUseError, LOCK_FILE, lockDataDir } from '../src/infra/db/data-dir-lock.ts'
import { seedMigratedPglite } from './pglite-template.ts'

const run = promisify(execFile)
const ROOT = fileURLToPath(new URL('..', import.meta.url))
const CLI = ['--import', 'tsx', join(ROOT, 'src/cli.ts')]

const envFor = (dataDir: string) => ({
  ...process.env,
  PORT: '0',
  OPENPNC_DATA_DIR: dataDir,
  OPENPNC_SANDBOX: 'false',
  LOG_FORMAT: 'json',
  LOG_LEVEL: 'info',
  DATABASE_URL: '',
})

/** `openpnc serve` in its own process; resolves with its URL once it listens. */
function serve(dataDir: string): { process: ChildProcess; url: Promise<string> } {
  const child = spawn(process.execPath, [...CLI, 'serve'], { cwd: ROOT, env: envFor(dataDir), stdio: ['ignore', 'pipe', 'pipe'] })
  const url = new Promise<string>((resolve, reject) => {
    let output = ''
    const read = (chunk: Buffer) => {
      output += chunk
      const match = /listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(output)
      if (match) resolve(match[1]!)
    }
    child.stdout!.on('data', read)
    child.stderr!.on('data', read)
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${output}`)))
  })
  return { process: child, url }
}

async function stop(child: ChildProcess) {
  if (child.exitCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  await exited
}

/** Runs the CLI to its end; resolves with its exit code and output either way. */
async function cli(dataDir: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [...CLI, ...args], { cwd: ROOT, env: envFor(dataDir) })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string }
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr }
  }
}

describe('the embedded database has one owner', () => {
  let dataDir: string
  let first: ChildProcess

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'openpnc-lock-'))
    await seedMigratedPglite(dataDir)
    const started = serve(dataDir)
    first = started.process
    await started.url
  })

  after(async () => {
    await stop(first)
    await rm(dataDir, { recursive: true, force: true })
  })

  test('a running server holds a lock file naming its process, host and start time', () => {
    const owner = JSON.parse(readFileSync(join(dataDir, LOCK_FILE), 'utf8'))
    assert.equal(owner.pid, first.pid)
    assert.equal(owner.host, hostname())
    assert.ok(!Number.isNaN(Date.parse(owner.since)))
  })

  test('a second server on the same data directory refuses to start, naming the directory and the owner', async () => {
    const second = serve(dataDir)
    const refusal = await second.url.then(
      async (url) => {
        await stop(second.process)
        assert.fail(`the second server started at ${url}`)
      },
      (error: Error) => error.message,
    )
    assert.match(refusal, /server exited with [1-9]/)
    assert.ok(refusal.includes(dataDir), refusal)
    assert.ok(refusal.includes(`process ${first.pid} on ${hostname()} since`), refusal)
  })

  test('migrate against a directory in use exits non-zero naming the directory and the owner', async () => {
    const result = await cli(dataDir, ['migrate'])
    assert.notEqual(result.code, 0)
    assert.ok(result.stderr.includes(dataDir), result.stderr)
    assert.ok(result.stderr.includes(`process ${first.pid}`), result.stderr)
  })

  test('a stopped server frees the directory, and the next one starts', async () => {
    await stop(first)
    assert.equal(existsSync(join(dataDir, LOCK_FILE)), false)
    const migrated = await cli(dataDir, ['migrate'])
    assert.equal(migrated.code, 0, migrated.stderr)
    assert.match(migrated.stdout, /up to date/)
  })

  test('a lock left by a process that no longer runs on this host is taken over', async () => {
    // A pid that ran and ended: the lock of a crashed server.
    const gone = spawn(process.execPath, ['-e', ''])
    await new Promise((resolve) => gone.once('exit', resolve))
    const stale = { pid: gone.pid, host: hostname(), since: '2026-01-01T00:00:00.000Z', nonce: 'crashed' }
    writeFileSync(join(dataDir, LOCK_FILE), JSON.stringify(stale))
    const started = serve(dataDir)
    first = started.process
    await started.url
    assert.equal(JSON.parse(readFileSync(join(dataDir, LOCK_FILE), 'utf8')).pid, first.pid)
  })

  test("a lock of another host's process is not taken over: it cannot be checked from here", async () => {
    const other = await mkdtemp(join(tmpdir(), 'openpnc-lock-other-'))
    try {
      writeFileSync(join(other, LOCK_FILE), JSON.stringify({ pid: 1, host: 'elsewhere.example', since: '2026-01-01T00:00:00.000Z' }))
      const result = await cli(other, ['migrate'])
      assert.notEqual(result.code, 0)
      assert.ok(result.stderr.includes('process 1 on elsewhere.example since 2026-01-01T00:00:00.000Z'), result.stderr)
      assert.ok(result.stderr.includes(`remove ${join(other, LOCK_FILE)}`), result.stderr)
    } finally {
      await rm(other, { recursive: true, force: true })
    }
  })
})

describe('the data directory lock in one process', () => {
  test('a directory locked by this process is refused to a second opener here too, and free again once released', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'openpnc-lock-self-'))
    try {
      const lock = lockDataDir(dir)
      assert.throws(
        () => lockDataDir(dir),
        (error: Error) => error instanceof DataDirInUseError && error.message.includes(`process ${process.pid} on ${hostname()}`),
      )
      lock.release()
      assert.equal(existsSync(join(dir, LOCK_FILE)), false)
      lockDataDir(dir).release()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  test("a lock with this process's pid that this process never took (a restarted container) is taken over", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'openpnc-lock-pid-'))
    try {
      writeFileSync(
        join(dir, LOCK_FILE),
        JSON.stringify({ pid: process.pid, host: hostname(), since: '2026-01-01T00:00:00.000Z', nonce: 'before' }),
      )
      const lock = lockDataDir(dir)
      assert.notEqual(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).nonce, 'before')
      lock.release()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
