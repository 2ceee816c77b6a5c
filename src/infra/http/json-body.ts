import { invalid } from '../../core/errors.ts'

/** How deeply a JSON body may nest: far beyond any schema of ours, far below a stack overflow. */
export const MAX_JSON_DEPTH = 32

/** `a.b[0].c`, as our error messages name fields. */
export function fieldPath(segments: ReadonlyArray<string | number>): string {
  return segments.reduce<string>((acc, s) => (typeof s === 'number' ? `${acc}[${s}]` : acc ? `${acc}.${s}` : s), '')
}

/**
 * One pass over the text, outside the parser: the deepest nesting (it stops as soon as that is
 * over the limit), whether a string holds an escaped NUL (a raw one is not valid JSON), and whether
 * a string may spell a prototype key: `__proto__` or `constructor` as written, or any `\u` escape
 * (which could spell either). Only then is the parsed value walked for the exact check.
 */
function scan(text: string, maxDepth: number): { tooDeep: boolean; nul: boolean; suspect: boolean } {
  let depth = 0
  let inString = false
  let stringStart = 0
  let nul = false
  let suspect = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 92 /* \ */) {
        if (text.charCodeAt(i + 1) === 117 /* u */) {
          suspect = true
          if (text.startsWith('u0000', i + 1)) nul = true
        }
        i++
      } else if (c === 34 /* " */) {
        inString = false
        const length = i - stringStart
        if ((length === 9 && text.startsWith('__proto__', stringStart)) || (length === 11 && text.startsWith('constructor', stringStart))) {
          suspect = true
        }
      }
    } else if (c === 34) {
      inString = true
      stringStart = i + 1
    } else if (c === 123 /* { */ || c === 91 /* [ */) {
      if (++depth > maxDepth) return { tooDeep: true, nul, suspect }
    } else if (c === 125 /* } */ || c === 93 /* ] */) depth--
  }
  return { tooDeep: false, nul, suspect }
}

type Problem = { kind: 'nul' | 'forbidden'; path: Array<string | number>; key?: string }

/** The first NUL in a string or key, or the first `__proto__` / `constructor.prototype` key. */
function findProblem(value: unknown, path: Array<string | number>, lookForNul: boolean): Problem | undefined {
  if (typeof value === 'string') return lookForNul && value.includes('\u0000') ? { kind: 'nul', path } : undefined
  if (value === null || typeof value !== 'object') return undefined
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findProblem(value[i], [...path, i], lookForNul)
      if (found) return found
    }
    return undefined
  }
  const object = value as Record<string, unknown>
  if (Object.hasOwn(object, '__proto__')) return { kind: 'forbidden', path, key: '__proto__' }
  const ctor = Object.hasOwn(object, 'constructor') ? object.constructor : undefined
  if (ctor !== null && typeof ctor === 'object' && Object.hasOwn(ctor, 'prototype')) {
    return { kind: 'forbidden', path, key: 'constructor.prototype' }
  }
  for (const key of Object.keys(object)) {
    if (lookForNul && key.includes('\u0000')) return { kind: 'nul', path: [...path, key] }
    const found = findProblem(object[key], [...path, key], lookForNul)
    if (found) return found
  }
  return undefined
}

/**
 * Parses a JSON request body for every API: malformed JSON, nesting deeper than `maxDepth`, a NUL
 * character in any string or key (PostgreSQL cannot store one) and prototype-poisoning keys are
 * each a 400 `invalid` error naming the problem (and the field, where there is one).
 */
export function parseJsonBody(text: string, maxDepth = MAX_JSON_DEPTH): unknown {
  const { tooDeep, nul, suspect } = scan(text, maxDepth)
  if (tooDeep) throw invalid('nesting_too_deep', `the request body nests deeper than ${maxDepth} levels of objects and arrays`)
  let value: unknown
  try {
    value = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text)
  } catch {
    throw invalid('malformed_json', 'the request body is not valid JSON')
  }
  if (!nul && !suspect) return value
  const problem = findProblem(value, [], nul)
  if (problem?.kind === 'nul') {
    const field = fieldPath(problem.path)
    throw invalid('nul_character', `${field || 'the request body'} must not contain a NUL character (\\u0000)`, { field })
  }
  if (problem?.kind === 'forbidden') {
    const field = fieldPath(problem.path)
    throw invalid('forbidden_key', `the key "${problem.key}"${field ? ` in ${field}` : ''} is not allowed in a request body`, {
      field: fieldPath([...problem.path, problem.key!]),
    })
  }
  return value
}

/** True when a URL (path or query, still percent-encoded) carries a NUL character. */
export const urlHasNul = (url: string): boolean => url.includes('%00') || url.includes('\u0000')
