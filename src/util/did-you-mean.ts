/** "Did you mean" suggestions for a mistyped name (a CLI flag, an algorithm, a setting). */

/** Levenshtein distance. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return d[b.length]!;
}

/**
 * The candidate closest to `name`, or null when none is close enough to be what was meant. A
 * prefix either way counts as close (--episode → --episodes); between equally close candidates the
 * smaller edit distance wins (cqlAlphaOnlien → cqlAlphaOnline, not its prefix cqlAlpha).
 */
export function closest(name: string, candidates: readonly string[]): string | null {
  let best: string | null = null;
  let bestD = Infinity;
  let bestEdits = Infinity;
  for (const c of candidates) {
    const edits = distance(name, c);
    const dd = c.startsWith(name) || name.startsWith(c) ? Math.min(edits, 2) : edits;
    if (dd < bestD || (dd === bestD && edits < bestEdits)) {
      bestD = dd;
      bestEdits = edits;
      best = c;
    }
  }
  return best !== null && bestD <= Math.max(2, Math.floor(name.length / 3)) ? best : null;
}
