/**
 * Transformer benchmark (issue 12): one pre-LN transformer block at Decision Transformer sizes
 * (CORL dt.py: embedding 128, 1 head, context 20 → 60 tokens; batch 64), causal self-attention
 * and a 4× GELU MLP, dropout 0.1 in training mode (keep-masks fed as inputs):
 *  - forward only, weights fed (evaluation mode: no dropout)
 *  - training step: forward + backward + AdamW (CORL's lr 1e-4, weight decay 1e-4, clip 0.25) in one run
 *  - the 256³ GEMM chain in the same interleaved rounds: the ceiling the GFLOP/s are read against
 *  - filling the step's dropout masks from the seeded Rng (host time a DT update adds per block)
 * and the embedding-gradient choice: ScatterND (add) against a one-hot MatMul for a 1000×128 table
 * and 64×20 indices (CORL's timestep embedding at episode length 1000, batch 64, context 20).
 */
import { Graph, ParamLayout, Session, type Tensor, TrainStep, adam, fillDropoutMask, grad, matmulFlops, params } from '../src/engine/index.js';
import { transformerBlock, transformerBlockSpecs } from '../src/nn/index.js';
import { Rng } from '../src/util/rng.js';
import { prepareGemm } from './engine.js';
import { machine, table, timeInterleaved } from './stats.js';

interface Runner {
  run: () => void;
  flops: number;
  dispose: () => void;
}

const [B, T, D, HEADS, RATE] = [64, 60, 128, 1, 0.1];

/** One block's forward (train = false) or training step (train = true) over [B, T, D] tokens. */
async function prepareBlock(train: boolean, threads: number): Promise<Runner & { masks: Float32Array[] }> {
  const layout = new ParamLayout('block', transformerBlockSpecs(D));
  const rng = new Rng(0);
  const g = new Graph();
  const { flat, views } = params(g, layout);
  const x = g.input('tokens', [B, T, D]);
  const maskShapes = [
    [B, HEADS, T, T],
    [B, T, D],
    [B, T, D],
  ];
  const masks = train ? maskShapes.map((s, i) => g.input(`drop${i}`, s)) : [];
  const drop = (i: number) => (train ? { mask: masks[i]!, rate: RATE } : undefined);
  const y = transformerBlock(g, views, x, {
    heads: HEADS,
    keyPadding: g.input('padding', [B, T], 'bool'),
    dropout: { attention: drop(0), afterAttention: drop(1), afterMlp: drop(2) },
  });
  const feeds: Record<string, Float32Array | Uint8Array> = {
    tokens: rng.fillNormal(new Float32Array(B * T * D)),
    padding: new Uint8Array(B * T), // no padding: every context full
  };
  const maskArrays = maskShapes.map((s) => fillDropoutMask(rng, new Float32Array(s.reduce((p, d) => p * d, 1)), RATE));
  if (train) maskArrays.forEach((m, i) => (feeds[`drop${i}`] = m));
  if (!train) {
    g.output('y', y);
    const s = await Session.create(g, { threads });
    s.set(layout.group, layout.init(0));
    for (const [k, v] of Object.entries(feeds)) s.set(k, v);
    return { run: () => void s.run(), flops: matmulFlops(g), masks: maskArrays, dispose: () => s.dispose() };
  }
  const target: Tensor = g.input('target', [B, T, D]);
  feeds.target = rng.fillNormal(new Float32Array(B * T * D));
  const loss = g.reduceMean(g.square(g.sub(y, target)));
  g.output('loss', loss);
  g.output('grad_norm', adam(g, flat, grad(g, loss, [flat])[0]!, { lr: 1e-4, weightDecay: 1e-4, maxGradNorm: 0.25 }).gradNorm);
  const ts = await TrainStep.create(g, { threads });
  ts.session.set(layout.group, layout.init(0));
  ts.session.set(`${layout.group}.m`, new Float32Array(layout.size));
  ts.session.set(`${layout.group}.v`, new Float32Array(layout.size));
  for (const [k, v] of Object.entries(feeds)) ts.session.set(k, v);
  return {
    run: () => {
      if (ts.step().diverged) throw new Error('transformer bench: the training step diverged');
    },
    flops: matmulFlops(g),
    masks: maskArrays,
    dispose: () => ts.dispose(),
  };
}

/** d(table) for a Gather of a [V, D] table at [N] indices: the engine's rule (ScatterND add) or a one-hot MatMul. */
async function prepareEmbeddingGrad(kind: 'scatter' | 'onehot', v: number, d: number, n: number, threads: number): Promise<Runner> {
  const g = new Graph();
  const dy = g.input('dy', [n, d]);
  const idx = g.input('idx', [n], 'int64');
  let dTable: Tensor;
  if (kind === 'scatter') {
    const tableIn = g.input('table', [v, d]);
    dTable = grad(g, g.gather(tableIn, idx), [tableIn], dy)[0]!;
  } else {
    const range = g.constant(
      BigInt64Array.from({ length: v }, (_, i) => BigInt(i)),
      [1, v],
      'int64',
    );
    dTable = g.gemm(g.cast(g.equal(g.reshape(idx, [n, 1]), range), 'float32'), dy, { transA: true });
  }
  g.output('d_table', dTable);
  const s = await Session.create(g, { threads });
  const rng = new Rng(2);
  s.set('dy', rng.fillNormal(new Float32Array(n * d)));
  s.set(
    'idx',
    BigInt64Array.from({ length: n }, () => BigInt(rng.int(v))),
  );
  if (kind === 'scatter') s.set('table', new Float32Array(v * d)); // unused by the gradient; ORT still wants a value
  return { run: () => void s.run(), flops: kind === 'onehot' ? 2 * v * n * d : 0, dispose: () => s.dispose() };
}

export async function run(): Promise<void> {
  const threads = Number(process.env.O2O_BENCH_THREADS ?? 2);
  const rounds = Number(process.env.O2O_BENCH_ROUNDS ?? 7);
  const fwd = await prepareBlock(false, threads);
  const step = await prepareBlock(true, threads);
  const gemm = await prepareGemm(256, 8, threads);
  const rng = new Rng(3);
  const fill = () => {
    for (const m of step.masks) fillDropoutMask(rng, m, RATE);
  };
  const [fwdMs, stepMs, gemmMs, fillMs] = timeInterleaved([fwd.run, step.run, gemm.run, fill], [2, 1, 4, 1], rounds) as [number, number, number, number];
  const gf = (flops: number, ms: number) => flops / ms / 1e6;
  const gemmG = gf(gemm.flops, gemmMs);
  console.log(
    `transformer block — pre-LN, causal self-attention (${HEADS} head) + 4× GELU MLP, embed ${D}, T ${T}, batch ${B}, dropout ${RATE}, ${threads} intra-op threads — ${machine()}`,
  );
  console.log(
    table(
      ['what', 'time per run (median)', 'runs/s', 'GFLOP per run', 'GFLOP/s', 'vs GEMM chain (same rounds)'],
      [
        [
          'forward, weights fed (eval mode)',
          `${fwdMs.toFixed(2)} ms`,
          (1000 / fwdMs).toFixed(1),
          (fwd.flops / 1e9).toFixed(3),
          gf(fwd.flops, fwdMs).toFixed(1),
          `${((gf(fwd.flops, fwdMs) / gemmG) * 100).toFixed(0)}%`,
        ],
        [
          'training step (fwd + bwd + AdamW), TrainStep.step',
          `${stepMs.toFixed(2)} ms`,
          (1000 / stepMs).toFixed(1),
          (step.flops / 1e9).toFixed(3),
          gf(step.flops, stepMs).toFixed(1),
          `${((gf(step.flops, stepMs) / gemmG) * 100).toFixed(0)}%`,
        ],
        ['256³ GEMM chain (8 MatMuls)', `${gemmMs.toFixed(2)} ms`, (1000 / gemmMs).toFixed(1), (gemm.flops / 1e9).toFixed(3), gemmG.toFixed(1), '100%'],
        ['filling the 3 dropout masks (host, Rng)', `${fillMs.toFixed(2)} ms`, '', '', '', ''],
      ],
    ),
  );
  console.log(`\nupdates/s if every FLOP ran at the GEMM chain's rate: ${(gemmG / (step.flops / 1e9)).toFixed(1)}`);
  fwd.dispose();
  step.dispose();
  gemm.dispose();

  const [v, n] = [1000, 64 * 20];
  const scatter = await prepareEmbeddingGrad('scatter', v, D, n, threads);
  const onehot = await prepareEmbeddingGrad('onehot', v, D, n, threads);
  const [scatterMs, onehotMs] = timeInterleaved([scatter.run, onehot.run], [10, 2], rounds) as [number, number];
  console.log(`\nembedding gradient, table ${v}×${D}, ${n} indices (one run: the gradient table out)`);
  console.log(
    table(
      ['rule', 'time per run (median)'],
      [
        ['ScatterND (reduction add) into a zero table — the engine', `${(scatterMs * 1000).toFixed(0)} µs`],
        [`one-hot [${n}×${v}] MatMul (${(onehot.flops / 1e6).toFixed(0)} MFLOP)`, `${(onehotMs * 1000).toFixed(0)} µs`],
      ],
    ),
  );
  scatter.dispose();
  onehot.dispose();
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
