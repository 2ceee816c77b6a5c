/** Levenshtein distance (insertions, deletions, substitutions), case-insensitive. */
export function editDistance(a: string, b: string): number {
  const s = a.toLowerCase()
  const t = b.toLowerCase()
  let previous = Array.from({ length: t.length + 1 }, (_, j) => j)
  for (let i = 1; i <= s.length; i++) {
    const current = [i]
    for (let j = 1; j <= t.length; j++) {
      const substitution = previous[j - 1]! + (s[i - 1] === t[j - 1] ? 0 : 1)
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution)
    }
    previous = current
  }
  return previous[t.length]!
}

/**
 * The known name an unknown one was probably meant to be: the closest within a third of its
 * length (at least one edit, so `enable` finds `enabled` and `contractID` finds `contractId`);
 * undefined when nothing is that close or two names are equally close.
 */
export function closestName(unknown: string, known: readonly string[]): string | undefined {
  const limit = Math.max(1, Math.floor(unknown.length / 3))
  let best: string | undefined
  let bestDistance = Infinity
  let tie = false
  for (const name of known) {
    const distance = editDistance(unknown, name)
    if (distance < bestDistance) {
      best = name
      bestDistance = distance
      tie = false
    } else if (distance === bestDistance) tie = true
  }
  return bestDistance <= limit && !tie ? best : undefined
}
