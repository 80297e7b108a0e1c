// Small statistics helpers shared by the load generator and the orchestrator.

/** The p-th percentile (0..100) of an ascending-sorted array-like, nearest-rank method. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/** Median of the numbers in `values` (nulls and NaN ignored, Infinity kept); null when none. */
export function median(values) {
  const sorted = values.filter((v) => typeof v === 'number' && !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return null;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Latency samples in a growable Float64Array: no allocation per sample on the measured path. */
export class LatencyRecorder {
  #samples = new Float64Array(1 << 18);
  #count = 0;

  record(value) {
    if (this.#count === this.#samples.length) {
      const bigger = new Float64Array(this.#samples.length * 2);
      bigger.set(this.#samples);
      this.#samples = bigger;
    }
    this.#samples[this.#count++] = value;
  }

  /** The samples so far, sorted ascending (a copy). */
  sorted() {
    return this.#samples.slice(0, this.#count).sort();
  }
}
