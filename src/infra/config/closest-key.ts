// "Did you mean …?" for a misspelt key: the valid key at the smallest edit distance, when that
// distance is small for the key's length.

/** Optimal string alignment distance: Levenshtein plus adjacent transpositions (`prot` → `port` is 1). */
export function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) rows[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = best;
    }
  }
  return rows[a.length]![b.length]!;
}

/**
 * The candidate closest to `key`, if the distance is at most `share` of the longer of the two and
 * at most `cap` edits (by default a third and 4: long paths differ by little when misspelt).
 */
export function closestKey(key: string, candidates: readonly string[], { share = 1 / 3, cap = 4 } = {}): string | undefined {
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(key, candidate);
    const limit = Math.min(cap, Math.max(1, Math.floor(Math.max(key.length, candidate.length) * share)));
    if (distance <= limit && (best === undefined || distance < best.distance)) best = { candidate, distance };
  }
  return best?.candidate;
}
