// The suite's own precondition: a plain clone, with nothing beside it, runs every test. So no source,
// test or benchmark file may name a path outside the repository (the specifications and vectors the
// tests read live in spec/), nor an absolute path of one machine.
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const SCANNED = ['src', 'test', 'bench']
const SOURCE = /\.(ts|js|mjs|cjs)$/

/** Roots of one machine's file system, and file URLs: never portable. */
const MACHINE_PATH = /^(?:\/(?:home|Users|tmp|work|root|var|opt|mnt|srv|private|media)(?:\/|$)|[A-Za-z]:\\|file:\/\/)/
/** Expressions that name the file's own directory, to which `join`/`resolve` add segments. */
const OWN_DIR = ['__dirname', 'import.meta.dirname', 'dirname(fileURLToPath(import.meta.url))']

export interface Escape {
  file: string
  line: number
  literal: string
  reason: string
}

function escapes(target: string, root: string): boolean {
  const rel = relative(root, target)
  return rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)
}

/**
 * Every path literal of one file that leaves `root` once resolved against the file, or names a
 * machine path. The TypeScript parser finds the literals, so comments and regular expressions
 * are not mistaken for them.
 */
export function pathsOutside(file: string, text: string, root: string): Escape[] {
  const found: Escape[] = []
  const dir = dirname(file)
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false)
  const report = (node: ts.Node, literal: string, reason: string) =>
    found.push({ file: relative(root, file), line: source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1, literal, reason })
  const visit = (node: ts.Node): void => {
    if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) {
      const literal = node.text
      if (literal === '..' || literal.startsWith('../') || literal.startsWith('./')) {
        // Relative module specifiers, `new URL(x, import.meta.url)` and `join(dirname, x)` all
        // resolve against the file's own directory.
        if (escapes(resolve(dir, literal), root)) report(node, literal, 'resolves outside the repository')
      } else if (MACHINE_PATH.test(literal)) {
        report(node, literal, 'names an absolute path of one machine')
      }
    } else if (
      ts.isCallExpression(node) &&
      ['join', 'resolve'].includes(node.expression.getText(source)) &&
      node.arguments.length > 1 &&
      OWN_DIR.includes(node.arguments[0]!.getText(source).replace(/\s+/g, ''))
    ) {
      const segments = node.arguments.slice(1)
      if (segments.every((a) => ts.isStringLiteral(a))) {
        const parts = segments.map((a) => (a as ts.StringLiteral).text)
        if (escapes(resolve(dir, ...parts), root)) report(node, parts.join(', '), 'joins to a directory outside the repository')
      }
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return found
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : sourceFiles(path)
    return SOURCE.test(entry.name) ? [path] : []
  })
}

describe('the repository stands alone', () => {
  test('no file under src/, test/ or bench/ names a path outside the repository', () => {
    const files = SCANNED.flatMap((dir) => sourceFiles(join(ROOT, dir)))
    assert.ok(files.length > 50, `scanned ${files.length} files`)
    const found = files.flatMap((file) => pathsOutside(file, readFileSync(file, 'utf8'), ROOT))
    assert.deepEqual(
      found.map((e) => `${e.file}:${e.line} '${e.literal}' ${e.reason}`),
      [],
    )
  })

  describe('the check itself', () => {
    const root = '/r/openpnc'
    const file = '/r/openpnc/test/x.test.ts'
    const check = (text: string) => pathsOutside(file, text, root).map((e) => e.reason)

    test('a URL relative to the file that climbs above the repository is found', () => {
      assert.deepEqual(check(`readFileSync(new URL('../../beside/v.json', import.meta.url))`), ['resolves outside the repository'])
    })

    test('directory segments joined to the file directory that climb above the repository are found', () => {
      assert.deepEqual(check(`join(__dirname, '..', '..', 'beside')`), ['joins to a directory outside the repository'])
      assert.deepEqual(check(`join(dirname(fileURLToPath(import.meta.url)), "..", "..")`), ['joins to a directory outside the repository'])
    })

    test('absolute paths of one machine are found, URL paths of the API are not', () => {
      assert.deepEqual(check(`const a = '/home/dev/specs'; const b = "C:\\\\specs"; const c = '/v1/users'`), [
        'names an absolute path of one machine',
        'names an absolute path of one machine',
      ])
    })

    test('paths that stay inside the repository pass', () => {
      assert.deepEqual(
        check(
          `import x from '../src/config.ts'; new URL('../spec/ocpi/', import.meta.url); join(__dirname, '..', 'spec'); new URL('..', import.meta.url)`,
        ),
        [],
      )
    })
  })
})
