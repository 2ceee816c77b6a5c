/**
 * eMI3 / ISO 15118-1 check character for contract IDs (Chen, Niemenmaa, Vinck).
 *
 * Each character maps to v in 0..35 (0-9, then A-Z) and splits into v = 9q + r: q is read as a
 * 2-bit vector over Z2, r as a base-3 digit pair over Z3. Position i (1-based) weighs those vectors
 * with P1^i (mod 2) and P2^i (mod 3); the check character is the one that makes both weighted sums
 * zero over all 15 positions. Mixing two small fields this way catches every single substitution and
 * every adjacent transposition, which a plain mod-36 sum would not.
 */

type Matrix = readonly [readonly [number, number], readonly [number, number]]
type Vector = readonly [number, number]

const P1: Matrix = [
  [0, 1],
  [1, 1],
]
const P2: Matrix = [
  [0, 1],
  [1, 2],
]
const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ'
const PAYLOAD_LENGTH = 14

function multiply(a: Matrix, b: Matrix, mod: number): Matrix {
  return [
    [(a[0][0] * b[0][0] + a[0][1] * b[1][0]) % mod, (a[0][0] * b[0][1] + a[0][1] * b[1][1]) % mod],
    [(a[1][0] * b[0][0] + a[1][1] * b[1][0]) % mod, (a[1][0] * b[0][1] + a[1][1] * b[1][1]) % mod],
  ]
}

function powers(p: Matrix, mod: number, count: number): Matrix[] {
  const result: Matrix[] = []
  let current = p
  for (let i = 0; i < count; i++) {
    result.push(current)
    current = multiply(current, p, mod)
  }
  return result
}

// Weights for positions 1..15, computed once.
const P1_POWERS = powers(P1, 2, PAYLOAD_LENGTH + 1)
const P2_POWERS = powers(P2, 3, PAYLOAD_LENGTH + 1)

function rowTimes(v: Vector, m: Matrix, mod: number): Vector {
  return [(v[0] * m[0][0] + v[1] * m[1][0]) % mod, (v[0] * m[0][1] + v[1] * m[1][1]) % mod]
}

function split(char: string): { q: Vector; r: Vector } {
  const v = ALPHABET.indexOf(char)
  if (v < 0) throw new RangeError(`not an EMAID character: ${JSON.stringify(char)}`)
  const q = Math.floor(v / 9)
  const r = v % 9
  return { q: [Math.floor(q / 2), q % 2], r: [Math.floor(r / 3), r % 3] }
}

/** Weighted sums of the given characters at positions 1..n. */
function weightedSums(chars: string): { s1: Vector; s2: Vector } {
  let s1: Vector = [0, 0]
  let s2: Vector = [0, 0]
  for (let i = 0; i < chars.length; i++) {
    const { q, r } = split(chars[i]!)
    const a = rowTimes(q, P1_POWERS[i]!, 2)
    const b = rowTimes(r, P2_POWERS[i]!, 3)
    s1 = [(s1[0] + a[0]) % 2, (s1[1] + a[1]) % 2]
    s2 = [(s2[0] + b[0]) % 3, (s2[1] + b[1]) % 3]
  }
  return { s1, s2 }
}

// For every possible check character, its contribution at position 15, so the lookup is a scan of 36.
const POSITION_15 = [...ALPHABET].map((char) => {
  const { q, r } = split(char)
  return { char, a: rowTimes(q, P1_POWERS[PAYLOAD_LENGTH]!, 2), b: rowTimes(r, P2_POWERS[PAYLOAD_LENGTH]!, 3) }
})

/**
 * The check character for a normalized 14-character EMAID payload
 * (country + provider + instance, upper-case, no separators).
 */
export function emaidCheckCharacter(payload: string): string {
  if (payload.length !== PAYLOAD_LENGTH) {
    throw new RangeError(`an EMAID payload has ${PAYLOAD_LENGTH} characters, got ${payload.length}`)
  }
  const { s1, s2 } = weightedSums(payload)
  const match = POSITION_15.find(
    ({ a, b }) => (s1[0] + a[0]) % 2 === 0 && (s1[1] + a[1]) % 2 === 0 && (s2[0] + b[0]) % 3 === 0 && (s2[1] + b[1]) % 3 === 0,
  )
  // The weight matrices are invertible, so exactly one character always fits.
  if (!match) throw new Error(`no check character fits ${payload}`)
  return match.char
}
