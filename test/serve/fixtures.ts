import { mkdtempSync } from 'node:fs';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { actorLayout, type ActorSpec, mlpPolicy } from '../../src/nn/index.js';
import { exportPolicy, type ExportResult } from '../../src/serve/index.js';

export function tempDir(prefix = 'o2o-serve-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A deterministic actor with seeded random weights, as a learner would hand it over. */
export function randomActor(spec: Partial<ActorSpec> = {}, seed = 1): { spec: ActorSpec; layout: ReturnType<typeof actorLayout>; params: Float32Array } {
  const s: ActorSpec = { kind: 'deterministic', obsDim: 5, actDim: 2, hidden: [16, 16], maxAction: 1.5, ...spec };
  const layout = actorLayout(s);
  return { spec: s, layout, params: layout.init(seed) };
}

export function exportRandom(opts: { seed?: number; version?: string; out?: string; signingKey?: string; spec?: Partial<ActorSpec> } = {}): ExportResult {
  const actor = randomActor(opts.spec, opts.seed ?? 1);
  return exportPolicy({
    policy: mlpPolicy(actor),
    card: { name: 'test-policy', version: opts.version ?? 'v1', task: 'test', algorithm: 'random-init', createdAt: '2026-11-27T00:00:00Z' },
    out: opts.out,
    signingKey: opts.signingKey,
  });
}

/** Float64 reference of an actor's network output (before the tanh), straight from the flat params. */
export function referenceHead(
  actor: { spec: ActorSpec; layout: ReturnType<typeof actorLayout>; params: Float32Array },
  obs: ArrayLike<number>,
  mean?: ArrayLike<number>,
  std?: ArrayLike<number>,
): number[] {
  const { spec } = actor;
  const p = actor.layout.unravel(actor.params);
  let h: number[] = Array.from(obs, (v, i) => (mean && std ? (v - mean[i]!) / std[i]! : v));
  const sizes = [spec.obsDim, ...spec.hidden, spec.kind === 'tanh-gaussian' ? 2 * spec.actDim : spec.actDim];
  for (let l = 0; l + 1 < sizes.length; l++) {
    const W = p[`l${l}.weight`]!;
    const b = p[`l${l}.bias`]!;
    const out = new Array<number>(sizes[l + 1]!).fill(0);
    for (let j = 0; j < out.length; j++) {
      let s = b[j]!;
      for (let i = 0; i < h.length; i++) s += h[i]! * W[i * out.length + j]!;
      out[j] = l + 2 < sizes.length ? Math.max(0, s) : s;
    }
    h = out;
  }
  return h;
}

/** Float64 reference forward pass of a deterministic / tanh-gaussian actor, straight from the flat params. */
export function referenceAction(
  actor: { spec: ActorSpec; layout: ReturnType<typeof actorLayout>; params: Float32Array },
  obs: ArrayLike<number>,
  mean?: ArrayLike<number>,
  std?: ArrayLike<number>,
): number[] {
  return referenceHead(actor, obs, mean, std)
    .slice(0, actor.spec.actDim)
    .map((v) => Math.tanh(v) * actor.spec.maxAction);
}

/**
 * Heap bytes per call that `act` allocates beyond `raw` (the bare ORT run it wraps): both warmed
 * up, then 15 paired rounds of 1500 calls (inside V8's young generation, so no scavenge hides
 * anything), and the least of the paired differences. ORT's binding builds its result objects per
 * run (~400 bytes; both pay it); the same act() code measured +13–35 bytes per call in some rounds
 * and +100–140 in others (V8 moving it between tiers, boxing doubles differently), while an
 * allocation in our code is paid in every round: one Float32Array(4) slipped into act() measured
 * +242 bytes per call.
 */
export function extraBytesPerCall(raw: () => void, act: (i: number) => void): number {
  v8.setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  for (let i = 0; i < 2000; i++) {
    act(i);
    raw();
  }
  const grow = (fn: (i: number) => void): number => {
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 1500; i++) fn(i);
    return (process.memoryUsage().heapUsed - before) / 1500;
  };
  const diffs: number[] = [];
  for (let r = 0; r < 15; r++) {
    const base = grow(raw);
    diffs.push(grow(act) - base);
  }
  return Math.min(...diffs);
}
