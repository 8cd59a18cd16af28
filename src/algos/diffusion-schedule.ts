/**
 * The numbers of Diffusion Policy's noise schedule and sampler (Chi et al. 2023, with the
 * schedulers it uses from diffusers), computed in float64 once, so that training and the exported
 * DDIM sampler read the same constants:
 *  - DDPM forward process with the squared-cosine schedule ('squaredcos_cap_v2', Nichol & Dhariwal
 *    2021): ᾱ(s) = cos²((s + 0.008)/1.008 · π/2), β_i = min(1 − ᾱ((i+1)/N)/ᾱ(i/N), 0.999),
 *    ᾱ_t = Π_{i≤t} (1 − β_i); x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε.
 *  - DDIM (Song et al. 2021, η = 0) in k steps: timesteps t_j = (k − 1 − j)·⌊N/k⌋, and per step
 *    x̂_0 = clip((x_t − √(1−ᾱ_t) ε̂)/√ᾱ_t, −1, 1),  x_prev = √ᾱ_prev x̂_0 + √(1−ᾱ_prev) ε̂,
 *    with ᾱ_prev = ᾱ_{t − ⌊N/k⌋}, or 1 after the last step (set_alpha_to_one).
 *  - The EMA of the weights (diffusion_policy's EMAModel: inv_gamma 1, power 0.75, max 0.9999):
 *    decay(step) = 0 for step ≤ 0, else min(1 − (1 + step)^−0.75, 0.9999), step = updates − 1.
 */

/** β_i of the squared-cosine schedule, i = 0 … steps − 1. */
export function squaredCosineBetas(steps: number, maxBeta = 0.999): Float64Array {
  if (!(Number.isInteger(steps) && steps >= 1)) throw new Error(`squaredCosineBetas: steps must be an integer ≥ 1, got ${steps}`);
  const alphaBar = (s: number) => Math.cos(((s + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
  const betas = new Float64Array(steps);
  for (let i = 0; i < steps; i++) betas[i] = Math.min(1 - alphaBar((i + 1) / steps) / alphaBar(i / steps), maxBeta);
  return betas;
}

/** ᾱ_t = Π_{i≤t} (1 − β_i). */
export function alphasCumprod(betas: Float64Array): Float64Array {
  const out = new Float64Array(betas.length);
  let p = 1;
  for (let i = 0; i < betas.length; i++) {
    p *= 1 - betas[i]!;
    out[i] = p;
  }
  return out;
}

/** One DDIM step's constants: the timestep it denoises from and the ᾱ it goes from and to. */
export interface DdimStep {
  t: number;
  alphaBar: number;
  alphaBarPrev: number;
}

/** The k DDIM steps over a schedule of N = alphaBars.length training steps ('leading' spacing, offset 0). */
export function ddimSteps(alphaBars: Float64Array, k: number): DdimStep[] {
  const n = alphaBars.length;
  if (!(Number.isInteger(k) && k >= 1 && k <= n)) throw new Error(`ddimSteps: k must be an integer in [1, ${n}], got ${k}`);
  const ratio = Math.floor(n / k);
  return Array.from({ length: k }, (_, j) => {
    const t = (k - 1 - j) * ratio;
    const prev = t - ratio;
    return { t, alphaBar: alphaBars[t]!, alphaBarPrev: prev >= 0 ? alphaBars[prev]! : 1 };
  });
}

/**
 * The noise a DDIM step adds back (Song et al. 2021, eq. 16): σ = η √((1 − ᾱ_prev)/(1 − ᾱ)) √(1 − ᾱ/ᾱ_prev).
 * η = 0 is deterministic DDIM; η = 1 is DDPM's posterior variance on the sub-sequence.
 */
export function ddimSigma(s: DdimStep, eta: number): number {
  if (eta === 0) return 0;
  return eta * Math.sqrt((1 - s.alphaBarPrev) / (1 - s.alphaBar)) * Math.sqrt(Math.max(0, 1 - s.alphaBar / s.alphaBarPrev));
}

/**
 * DDIM sampling in float64 (the reference the exported graph is checked against): from `x` (the
 * initial noise, a flat chunk) with `eps(x, t)` the noise model, returns the denoised chunk. With
 * η > 0 step j adds σ_j · z[j] (z: one standard-normal draw of x's size per step). A temperature
 * τ scales the initial noise and every z (Ajay et al. 2023, "low-temperature sampling"):
 *   x ← τ x;  per step  x0 = clip((x − √(1−ᾱ) ε) / √ᾱ);  x ← √ᾱ_prev x0 + √(1 − ᾱ_prev − σ²) ε + τ σ z
 */
export function ddimSample(
  x: Float64Array,
  steps: readonly DdimStep[],
  eps: (x: Float64Array, t: number) => ArrayLike<number>,
  clip = 1,
  eta = 0,
  z: readonly ArrayLike<number>[] = [],
  temperature = 1,
): Float64Array {
  let cur = Float64Array.from(x, (v) => temperature * v);
  steps.forEach((s, j) => {
    const e = eps(cur, s.t);
    const sigma = ddimSigma(s, eta);
    const dir = Math.sqrt(1 - s.alphaBarPrev - sigma * sigma);
    const next = new Float64Array(cur.length);
    for (let i = 0; i < cur.length; i++) {
      const x0 = Math.min(clip, Math.max(-clip, (cur[i]! - Math.sqrt(1 - s.alphaBar) * e[i]!) / Math.sqrt(s.alphaBar)));
      next[i] = Math.sqrt(s.alphaBarPrev) * x0 + dir * e[i]! + (sigma > 0 ? temperature * sigma * z[j]![i]! : 0);
    }
    cur = next;
  });
  return cur;
}

/** The EMA decay after `updates` optimizer updates (diffusion_policy EMAModel defaults). */
export function emaDecay(updates: number, power = 0.75, maxDecay = 0.9999): number {
  const step = updates - 1;
  if (step <= 0) return 0;
  return Math.min(1 - (1 + step) ** -power, maxDecay);
}
