/**
 * Engine benchmark: the 17→256→256→6 MLP at batch 256.
 *  - forward, weights baked in as initializers (serving graphs)
 *  - forward, weights fed as a flat input (how training graphs see them): the fair baseline
 *  - full training step: forward + backward + Adam in one session.run
 *  - the same step unrolled: several updates chained in one graph and one session.run (the
 *    binding copies every fetched output into a new buffer, so the state leaves once per run)
 * Targets (issue 2): step GFLOP/s ≥ 70% of the fed-weights forward; time outside ORT ≤ 10%.
 */
import { Graph, Session, TrainStep, adam, grad, params } from '../src/engine/index.js';
import { type MlpSpec, mlp, mlpFlops, mlpLayout } from '../src/nn/index.js';
import { Rng } from '../src/util/rng.js';
import { machine, table, timeInterleaved } from './stats.js';

export interface EngineFigures {
  forwardBakedMs: number;
  forwardFedMs: number;
  stepMs: number;
  /** Per update, with `unroll` updates per run. */
  unrolledStepMs: number;
  unroll: number;
  stepNativeMs: number;
  forwardFlops: number;
  stepFlops: number;
}

/** FLOPs of forward + backward (dW for every layer, dX for all but the first) for an MLP. */
export function trainStepFlops(sizes: number[], batch: number): number {
  const fwd = mlpFlops(sizes, batch);
  const dX = fwd - 2 * batch * sizes[0]! * sizes[1]!;
  return fwd + fwd + dX;
}

/** The three engine workloads as runnable closures (so other benchmarks can interleave them). */
export interface EngineRunners {
  baked: () => void;
  fed: () => void;
  step: () => void;
  /** `unroll` training steps chained in one graph and one run() (one call = unroll updates). */
  unrolled: () => void;
  unroll: number;
  /** Milliseconds inside ORT's run() so far (training step only). */
  stepNativeMs: () => number;
  forwardFlops: number;
  stepFlops: number;
  dispose: () => void;
}

export async function prepareEngine(sizes = [17, 256, 256, 6], batch = 256, threads = 2, unroll = 4): Promise<EngineRunners> {
  const spec: MlpSpec = { sizes, hidden: 'relu', output: 'tanh' };
  const layout = mlpLayout('net', spec);
  const w = layout.init(0);
  const rng = new Rng(0);
  const obs = rng.fillNormal(new Float32Array(batch * sizes[0]!));
  const target = rng.fillUniform(new Float32Array(batch * sizes.at(-1)!), -1, 1);

  // Forward with weights as initializers.
  const gb = new Graph();
  const named = layout.unravel(w);
  const views: Record<string, ReturnType<Graph['constant']>> = {};
  for (const s of layout.specs) views[s.name] = gb.constant(Float32Array.from(named[s.name]!), s.shape);
  gb.output('y', mlp(gb, views, gb.input('obs', [batch, sizes[0]!]), spec));
  const baked = await Session.create(gb, { threads });
  baked.set('obs', obs);

  // Forward with weights fed as one flat input.
  const gf = new Graph();
  const pf = params(gf, layout);
  gf.output('y', mlp(gf, pf.views, gf.input('obs', [batch, sizes[0]!]), spec));
  const fed = await Session.create(gf, { threads });
  fed.set('obs', obs);
  fed.set('net', w);

  // Training step.
  const gt = new Graph();
  const pt = params(gt, layout);
  const x = gt.input('obs', [batch, sizes[0]!]);
  const y = gt.input('target', [batch, sizes.at(-1)!]);
  const loss = gt.reduceMean(gt.square(gt.sub(mlp(gt, pt.views, x, spec), y)));
  gt.output('loss', loss);
  const { gradNorm } = adam(gt, pt.flat, grad(gt, loss, [pt.flat])[0]!, { lr: 1e-4 });
  gt.output('grad_norm', gradNorm);
  const ts = await TrainStep.create(gt, { threads });
  ts.session.set('net', w);
  ts.session.set('net.m', new Float32Array(layout.size));
  ts.session.set('net.v', new Float32Array(layout.size));
  const feeds = { obs, target };

  // The same step, `unroll` updates chained in one graph (Graph.unrolled; update k reads obs@k and
  // target@k), so the binding copies the state (parameters, moments) out once per run.
  const gu = new Graph();
  gu.unrolled(unroll, () => {
    const p = params(gu, layout);
    const lossK = gu.reduceMean(gu.square(gu.sub(mlp(gu, p.views, gu.input('obs', [batch, sizes[0]!]), spec), gu.input('target', [batch, sizes.at(-1)!]))));
    gu.output('loss', lossK);
    gu.output('grad_norm', adam(gu, p.flat, grad(gu, lossK, [p.flat])[0]!, { lr: 1e-4 }).gradNorm);
  });
  const unrolledFeeds: Record<string, Float32Array> = {};
  for (let k = 0; k < unroll; k++) {
    unrolledFeeds[k === 0 ? 'obs' : `obs@${k}`] = obs;
    unrolledFeeds[k === 0 ? 'target' : `target@${k}`] = target;
  }
  const tu = await TrainStep.create(gu, { threads });
  tu.session.set('net', w);
  tu.session.set('net.m', new Float32Array(layout.size));
  tu.session.set('net.v', new Float32Array(layout.size));

  return {
    baked: () => void baked.run(),
    fed: () => void fed.run(),
    step: () => void ts.step(feeds),
    unrolled: () => void tu.step(unrolledFeeds),
    unroll,
    stepNativeMs: () => ts.session.nativeMs,
    forwardFlops: mlpFlops(sizes, batch),
    stepFlops: trainStepFlops(sizes, batch),
    dispose: () => {
      baked.dispose();
      fed.dispose();
      ts.dispose();
      tu.dispose();
    },
  };
}

/**
 * A chain of `depth` [n, n] x [n, n] MatMuls inside one graph (only a scalar comes out, so the
 * binding's copies do not count): the GFLOP/s ORT's GEMM reaches here at these sizes.
 */
export async function prepareGemm(n = 256, depth = 8, threads = 2): Promise<{ run: () => void; flops: number; dispose: () => void }> {
  const g = new Graph();
  const w = g.input('w', [n, n]);
  let x = g.input('x', [n, n]);
  for (let i = 0; i < depth; i++) x = g.matmul(x, w);
  g.output('s', g.reduceSum(x, [0, 1]));
  const s = await Session.create(g, { threads });
  const rng = new Rng(1);
  s.set('x', rng.fillNormal(new Float32Array(n * n)));
  s.set('w', rng.fillNormal(new Float32Array(n * n), 0, 1 / Math.sqrt(n)));
  return { run: () => void s.run(), flops: depth * 2 * n * n * n, dispose: () => s.dispose() };
}

export async function measureEngine(sizes = [17, 256, 256, 6], batch = 256, threads = 2): Promise<EngineFigures> {
  const e = await prepareEngine(sizes, batch, threads);
  const [forwardBakedMs, forwardFedMs, stepMs, unrolledRunMs] = timeInterleaved([e.baked, e.fed, e.step, e.unrolled], [20, 20, 4, 1], 61) as [number, number, number, number];
  // Time inside ORT during the same step() calls: the rest is our marshalling, checks and copies.
  const calls = 200;
  const n0 = e.stepNativeMs();
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) e.step();
  const stepNativeMs = ((e.stepNativeMs() - n0) / (performance.now() - t0)) * stepMs;
  e.dispose();
  return { forwardBakedMs, forwardFedMs, stepMs, unrolledStepMs: unrolledRunMs / e.unroll, unroll: e.unroll, stepNativeMs, forwardFlops: e.forwardFlops, stepFlops: e.stepFlops };
}

export async function run(): Promise<void> {
  const f = await measureEngine();
  const gf = (flops: number, ms: number) => (flops / (ms * 1e-3) / 1e9).toFixed(1);
  const fedG = f.forwardFlops / f.forwardFedMs;
  const stepG = f.stepFlops / f.stepMs;
  console.log(`engine benchmark — MLP 17→256→256→6, batch 256, 2 intra-op threads — ${machine()}`);
  console.log(
    table(
      ['what', 'time per run (median)', 'runs/s', 'GFLOP/s'],
      [
        ['forward, weights as initializers (serving)', `${(f.forwardBakedMs * 1000).toFixed(0)} µs`, (1000 / f.forwardBakedMs).toFixed(0), gf(f.forwardFlops, f.forwardBakedMs)],
        ['forward, weights fed as input (baseline)', `${(f.forwardFedMs * 1000).toFixed(0)} µs`, (1000 / f.forwardFedMs).toFixed(0), gf(f.forwardFlops, f.forwardFedMs)],
        ['training step (fwd + bwd + Adam), TrainStep.step', `${(f.stepMs * 1000).toFixed(0)} µs`, (1000 / f.stepMs).toFixed(0), gf(f.stepFlops, f.stepMs)],
        ['  of which inside ORT run()', `${(f.stepNativeMs * 1000).toFixed(0)} µs`, '', ''],
        [
          `training step, ${f.unroll} unrolled per run (per update)`,
          `${(f.unrolledStepMs * 1000).toFixed(0)} µs`,
          (1000 / f.unrolledStepMs).toFixed(0),
          gf(f.stepFlops, f.unrolledStepMs),
        ],
      ],
    ),
  );
  console.log(
    `\nstep GFLOP/s / fed-forward GFLOP/s = ${((stepG / fedG) * 100).toFixed(0)}% one update per run, ${((f.stepFlops / f.unrolledStepMs / fedG) * 100).toFixed(0)}% with ${f.unroll} per run (target ≥ 70%)`,
  );
  console.log(`time outside ORT = ${(((f.stepMs - f.stepNativeMs) / f.stepMs) * 100).toFixed(1)}% of the step (target ≤ 10%)`);
}
