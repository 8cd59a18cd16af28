import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { actorLayout, type ActorSpec } from '../../src/nn/index.js';
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
    actor,
    card: { name: 'test-policy', version: opts.version ?? 'v1', task: 'test', algorithm: 'random-init', createdAt: '2026-11-27T00:00:00Z' },
    out: opts.out,
    signingKey: opts.signingKey,
  });
}

/** Float64 reference of an actor's network output (before the tanh), straight from the flat params. */
export function referenceHead(actor: { spec: ActorSpec; layout: ReturnType<typeof actorLayout>; params: Float32Array }, obs: ArrayLike<number>, mean?: ArrayLike<number>, std?: ArrayLike<number>): number[] {
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
export function referenceAction(actor: { spec: ActorSpec; layout: ReturnType<typeof actorLayout>; params: Float32Array }, obs: ArrayLike<number>, mean?: ArrayLike<number>, std?: ArrayLike<number>): number[] {
  return referenceHead(actor, obs, mean, std)
    .slice(0, actor.spec.actDim)
    .map((v) => Math.tanh(v) * actor.spec.maxAction);
}
