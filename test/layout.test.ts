// The layout's arrows point one way (README, "Layout"): protocol adapter -> service -> store, and
// everything may use core/. A test keeps them so, because a wrong-way import is easy to add and
// hard to see in review; the import graph is read with the TypeScript parser.
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

const SRC = fileURLToPath(new URL('../src', import.meta.url))

interface ImportEdge {
  from: string
  /** a path under src/ for a relative import, else the package name */
  to: string
  line: number
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourceFiles(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  )
}

/** Every import and re-export of one file, type-only ones included: a type names a dependency too. */
export function importsOf(file: string, text: string, root: string): ImportEdge[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false)
  const edges: ImportEdge[] = []
  const add = (specifier: ts.Node | undefined, at: ts.Node) => {
    if (!specifier || !ts.isStringLiteral(specifier)) return
    const spec = specifier.text
    const to = spec.startsWith('.')
      ? relative(root, resolve(dirname(file), spec))
          .split(sep)
          .join('/')
      : spec
    edges.push({
      from: relative(root, file).split(sep).join('/'),
      to,
      line: source.getLineAndCharacterOfPosition(at.getStart(source)).line + 1,
    })
  }
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) add(node.moduleSpecifier, node)
    else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) add(node.arguments[0], node)
    ts.forEachChild(node, visit)
  }
  visit(source)
  return edges
}

/** Libraries that compute without I/O, which core/ may use: node:crypto and the X.509/ASN.1 codecs. */
const PURE_LIBRARIES = new Set(['node:crypto', '@peculiar/x509', '@peculiar/asn1-schema', '@peculiar/asn1-x509', 'pkijs', 'asn1js'])

/** The rules, each a sentence and a test of one edge (null when the edge is fine). */
const RULES: Array<{ rule: string; applies: (from: string) => boolean; allowed: (to: string) => boolean }> = [
  {
    rule: 'core/ is pure: it imports only core/, node:crypto and the X.509/ASN.1 libraries (certificate profiles), no database, HTTP, network or protocol',
    applies: (from) => from.startsWith('core/'),
    allowed: (to) => to.startsWith('core/') || PURE_LIBRARIES.has(to),
  },
  {
    rule: 'services/ never import a protocol adapter',
    applies: (from) => from.startsWith('services/'),
    allowed: (to) => !to.startsWith('protocols/') && !to.startsWith('sim/'),
  },
  {
    rule: 'infra/ never imports a protocol adapter',
    applies: (from) => from.startsWith('infra/'),
    allowed: (to) => !to.startsWith('protocols/') && !to.startsWith('sim/'),
  },
  {
    rule: 'the outbox reader and the delivery engine know no service and no protocol, so every sender can plug in',
    applies: (from) => from.startsWith('infra/outbox/') || from.startsWith('infra/delivery/'),
    allowed: (to) => !to.startsWith('services/') && !to.startsWith('protocols/'),
  },
]

export function wrongWayImports(edges: ImportEdge[]): string[] {
  const found: string[] = []
  for (const edge of edges) {
    for (const { rule, applies, allowed } of RULES) {
      if (applies(edge.from) && !allowed(edge.to)) found.push(`src/${edge.from}:${edge.line} imports ${edge.to}: ${rule}`)
    }
  }
  return found
}

describe('the layout', () => {
  test('no import in src/ points the wrong way', () => {
    const edges = sourceFiles(SRC).flatMap((file) => importsOf(file, readFileSync(file, 'utf8'), SRC))
    assert.ok(edges.length > 100, 'the import graph was read')
    assert.deepEqual(wrongWayImports(edges), [])
  })

  test('a wrong-way import is named with its file, line and rule', () => {
    const root = join(SRC)
    const edges = [
      ...importsOf(join(root, 'core', 'x.ts'), "import { sql } from 'kysely'\nimport type { P } from '../protocols/ocpi/p.ts'", root),
      ...importsOf(join(root, 'services', 'keys', 'y.ts'), "import { saveOcpiLocations } from '../../protocols/ocpi/locations.ts'", root),
      ...importsOf(join(root, 'infra', 'delivery', 'z.ts'), "const k = await import('../../services/keys/key-store.ts')", root),
    ]
    const found = wrongWayImports(edges)
    assert.equal(found.length, 4, found.join('\n'))
    assert.match(found[0]!, /^src\/core\/x\.ts:1 imports kysely: core\/ is pure/)
    assert.match(found[1]!, /^src\/core\/x\.ts:2 imports protocols\/ocpi\/p\.ts/)
    assert.match(found[2]!, /^src\/services\/keys\/y\.ts:1 imports protocols\/ocpi\/locations\.ts: services\/ never import/)
    assert.match(found[3]!, /^src\/infra\/delivery\/z\.ts:1 imports services\/keys\/key-store\.ts: the outbox reader/)
  })
})
