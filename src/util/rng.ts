/**
 * Small seeded pseudo-random generator: xoshiro128** seeded through splitmix32.
 * Deterministic across platforms (pure 32-bit integer arithmetic), no allocation per draw.
 *
 *   const rng = new Rng(42);
 *   rng.uniform();        // [0, 1)
 *   rng.int(10);          // integer in [0, 10)
 *   rng.normal();         // standard normal (Box-Muller, cached second value)
 */
export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  private spare = 0;
  private hasSpare = false;

  constructor(seed: number) {
    if (!Number.isFinite(seed)) {
      throw new Error(`Rng: seed must be a finite number, got ${String(seed)}; pass an integer such as 0 or 42`);
    }
    this.reseed(seed);
  }

  /** Reset the state as if constructed with `seed`. */
  reseed(seed: number): void {
    // splitmix32 over the low and high 32 bits of the seed.
    let x = (Math.floor(seed) >>> 0) ^ (Math.floor(seed / 4294967296) * 0x9e3779b9);
    const next = (): number => {
      x = (x + 0x9e3779b9) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
    this.hasSpare = false;
  }

  /** Next raw 32-bit unsigned integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform float in [0, 1) with 32 bits of randomness, or in [lo, hi) when bounds are given. */
  uniform(lo = 0, hi = 1): number {
    return lo + (hi - lo) * (this.nextU32() / 4294967296);
  }

  /** Uniform integer in [0, n). Unbiased (rejection sampling). `n` must be in [1, 2^32]. */
  int(n: number): number {
    if (!(n >= 1 && n <= 4294967296) || !Number.isInteger(n)) {
      throw new Error(`Rng.int: n must be an integer in [1, 2^32], got ${n}`);
    }
    const limit = 4294967296 - (4294967296 % n);
    let x = this.nextU32();
    while (x >= limit) x = this.nextU32();
    return x % n;
  }

  /** Normal sample with the given mean and standard deviation (Box-Muller). */
  normal(mean = 0, std = 1): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return mean + std * this.spare;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    this.hasSpare = true;
    return mean + std * r * Math.cos(2 * Math.PI * v);
  }

  /** Fill `out` with uniform [lo, hi) floats; returns `out`. */
  fillUniform<T extends Float32Array | Float64Array>(out: T, lo = 0, hi = 1): T {
    for (let i = 0; i < out.length; i++) out[i] = this.uniform(lo, hi);
    return out;
  }

  /** Fill `out` with normal samples; returns `out`. */
  fillNormal<T extends Float32Array | Float64Array>(out: T, mean = 0, std = 1): T {
    for (let i = 0; i < out.length; i++) out[i] = this.normal(mean, std);
    return out;
  }

  /**
   * Fill `out` with `hit` where `uniform() < p` and `miss` elsewhere, consuming the stream exactly as
   * that loop would, but faster: the generator state lives in locals (dropout masks need millions).
   */
  fillBernoulli<T extends Float32Array | Float64Array>(out: T, p: number, hit = 1, miss = 0): T {
    if (!(p >= 0 && p <= 1)) throw new Error(`Rng.fillBernoulli: p must be in [0, 1], got ${p}`);
    // uniform() < p  ⟺  u32 / 2^32 < p  ⟺  u32 < ceil(p · 2^32) for an integer u32
    const threshold = Math.ceil(p * 4294967296);
    let s0 = this.s0;
    let s1 = this.s1;
    let s2 = this.s2;
    let s3 = this.s3;
    for (let i = 0; i < out.length; i++) {
      const m = Math.imul(s1, 5);
      const r = Math.imul((m << 7) | (m >>> 25), 9) >>> 0;
      const t = s1 << 9;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = (s3 << 11) | (s3 >>> 21);
      out[i] = r < threshold ? hit : miss;
    }
    this.s0 = s0;
    this.s1 = s1;
    this.s2 = s2;
    this.s3 = s3;
    return out;
  }

  /** The full generator state, for checkpoints (resume continues the exact same stream). */
  getState(): number[] {
    return [this.s0, this.s1, this.s2, this.s3, this.hasSpare ? 1 : 0, this.spare];
  }

  setState(state: readonly number[]): void {
    if (state.length !== 6) throw new Error(`Rng.setState: expected 6 numbers (from getState), got ${state.length}`);
    [this.s0, this.s1, this.s2, this.s3] = state.slice(0, 4).map((v) => v >>> 0) as [number, number, number, number];
    this.hasSpare = state[4] === 1;
    this.spare = state[5]!;
  }

  /** Derive an independent generator (for sub-components) deterministically. */
  fork(): Rng {
    return new Rng(this.nextU32() * 4294967296 + this.nextU32());
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
