/**
 * Makes a Hubject `pattern` compilable by JSON Schema validators, which build every pattern as a
 * Unicode RegExp (flag `u`), where an escape of a character that has no special meaning is a
 * syntax error.
 *
 * Hubject's specifications (OICP 2.3 YAML, OPCP 1.0.0 JSON) were written for non-Unicode regex
 * engines and carry such escapes:
 * - `\-` outside a character class: OICP ProviderID `[A-Za-z]{2}\-?[A-Za-z0-9]{3}`, EvcoID, and
 *   OPCP's UUID patterns `^[0-9a-fA-F]{8}\-([0-9a-fA-F]{4}\-){3}...` (meant: a hyphen);
 * - `\,` anywhere: OICP GeoCoordinates Google `\s*\,?\s*` (meant: an optional comma).
 * Both are identity escapes, so dropping the backslash keeps the meaning. Inside a class `\-` is
 * legal in Unicode mode and is kept: unescaping it there could turn it into a range.
 */
export function normalizeHubjectPattern(pattern: string): string {
  let out = ''
  let inClass = false
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!
    if (c === '\\' && i + 1 < pattern.length) {
      const next = pattern[i + 1]!
      i++
      if (next === ',' || (next === '-' && !inClass)) out += next
      else out += c + next
      continue
    }
    if (c === '[' && !inClass) inClass = true
    else if (c === ']' && inClass) inClass = false
    out += c
  }
  return out
}
