// Reading the official specifications in spec/ for the tests: YAML files that point at each other
// with `$ref`s. The OCPI and OICP validators (ocpi-spec.ts, oicp-spec.ts) both read them this way.
import { readFileSync } from 'node:fs'
import { parse as parseYaml } from 'yaml'

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
export type JsonObject = { [key: string]: Json }

export function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** One spec file, parsed; `spec` names the specification in the error when the file is missing. */
export function readSpecYaml(fileUrl: string, spec: string): Json {
  let text: string
  try {
    text = readFileSync(new URL(fileUrl), 'utf8')
  } catch (err) {
    throw new Error(`${spec} spec file not found: ${fileUrl}`, { cause: err })
  }
  return parseYaml(text) as Json
}

/** Every `$ref` anywhere in a parsed file, each once. */
export function refsIn(node: Json): string[] {
  const into = new Set<string>()
  const visit = (value: Json): void => {
    if (Array.isArray(value)) {
      for (const item of value) visit(item)
    } else if (isObject(value)) {
      if (typeof value.$ref === 'string') into.add(value.$ref)
      for (const child of Object.values(value)) visit(child)
    }
  }
  visit(node)
  return [...into]
}

/** The other files a file's `$ref`s point to, as URLs without the pointer. */
export function filesReferenced(refs: readonly string[], fileUrl: string): string[] {
  return refs
    .filter((ref) => !ref.startsWith('#'))
    .map((ref) => {
      const target = new URL(ref, fileUrl)
      target.hash = ''
      return target.href
    })
}
