/**
 * Reads a .cpuprofile written by bench/profiler.ts and says where the server's time went: self time
 * by origin (a package, a file of ours, node's internals, V8's own buckets) and the top functions.
 * Used by bench/authorize.ts (BENCH_AUTH_PROFILE) and bench/geosearch.ts (BENCH_GEO_PROFILE).
 */
import { readFile } from 'node:fs/promises'

interface CpuProfile {
  nodes: Array<{ id: number; hitCount?: number; callFrame: { functionName: string; url: string; lineNumber: number } }>
}

/** Where a function lives, short enough to read in a report. */
function origin(url: string, functionName: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)'
  const modules = url.lastIndexOf('/node_modules/')
  if (modules >= 0) {
    const parts = url.slice(modules + '/node_modules/'.length).split('/')
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!
  }
  if (url.startsWith('node:')) return 'node internals'
  const src = url.lastIndexOf('/src/')
  if (src >= 0) return url.slice(src + 1)
  const bench = url.lastIndexOf('/bench/')
  return bench >= 0 ? url.slice(bench + 1) : url
}

/** Self time by origin and the top functions, in % of the samples (idle included). */
export async function summarizeCpuProfile(path: string, topFunctions = 20): Promise<string[]> {
  const cpu = JSON.parse(await readFile(path, 'utf8')) as CpuProfile
  const samples = cpu.nodes.reduce((sum, n) => sum + (n.hitCount ?? 0), 0)
  if (samples === 0) return ['(no samples)']
  const byOrigin = new Map<string, number>()
  const byFunction = new Map<string, number>()
  for (const node of cpu.nodes) {
    const hits = node.hitCount ?? 0
    if (hits === 0) continue
    const { functionName, url, lineNumber } = node.callFrame
    const where = origin(url, functionName)
    byOrigin.set(where, (byOrigin.get(where) ?? 0) + hits)
    const name = `${functionName || '(anonymous)'} ${url ? `${where}:${lineNumber + 1}` : ''}`.trim()
    byFunction.set(name, (byFunction.get(name) ?? 0) + hits)
  }
  const pct = (hits: number) => `${((100 * hits) / samples).toFixed(1).padStart(5)}%`
  const top = (map: Map<string, number>, n: number) => [...map].sort((a, b) => b[1] - a[1]).slice(0, n)
  return [
    `server CPU profile of the measured run (${path}; ${samples} samples, share of samples incl. idle):`,
    '  self time by origin:',
    ...top(byOrigin, 14).map(([where, hits]) => `    ${pct(hits)}  ${where}`),
    '  top functions by self time:',
    ...top(byFunction, topFunctions).map(([name, hits]) => `    ${pct(hits)}  ${name}`),
  ]
}
