/**
 * Algorithm throughput (issue 5): update steps/s at halfcheetah sizes (obs 17, act 6), batch 256,
 * 2x256 networks, each algorithm's achieved GFLOP/s (matrix products counted from its graph)
 * beside the engine's plain MLP training step measured in the same run, and peak RSS of a training
 * process holding a 1M-transition dataset. Each algorithm is also timed with updatesPerRun = K
 * (O2O_BENCH_UNROLL, default 4: K updates chained per session.run) in the same rounds.
 */
import { DIFFUSION_DEFAULTS, DT_DEFAULTS, createLearner, type Learner, type TrainingBatch, networkSettings } from '../src/algos/index.js';
import { ChunkSampler, SequenceSampler, UniformSampler, batchesLike } from '../src/data/index.js';
import { prepareEngine, prepareGemm } from './engine.js';
import { machine, table, timeInterleaved } from './stats.js';
import { syntheticDataset } from './synthetic.js';

const task = { obsDim: 17, actDim: 6, maxAction: 1 };
const h = [256, 256];
const ALGOS: [string, number][] = [
  ['td3bc', 300],
  ['iql', 250],
  ['cql', 18],
  ['calql', 18],
  ['bc', 0],
];

export async function run(): Promise<void> {
  const n = Number(process.env.O2O_BENCH_ROWS ?? 1_000_000);
  const K = Number(process.env.O2O_BENCH_UNROLL ?? 4);
  const ds = syntheticDataset(n);
  let peak = process.memoryUsage().rss;
  const eng = await prepareEngine();
  const gemm = await prepareGemm();
  const rows: (string | number)[][] = [];
  for (const [algo, target] of ALGOS) {
    const cfg = networkSettings(algo, h);
    const l: Learner = await createLearner(algo, task, cfg, 0, { threads: 2 });
    const chained: Learner = await createLearner(algo, task, { ...cfg, updatesPerRun: K }, 0, { threads: 2 });
    const s = new UniformSampler(ds, { batchSize: 256, seed: 1, info: ['mc_return'] });
    const batches = batchesLike(s.batch, K);
    const steps = algo.includes('cql') ? 4 : 20;
    // Interleaved rounds: the engine's MLP step, a chain of 256³ GEMMs, this algorithm's update and its
    // K-chained run take turns, so the ratios compare the same minutes of this shared machine.
    const chainedRun = () => {
      for (const b of batches) s.sample(b);
      chained.updateMany(batches);
    };
    const [engMs, gemmMs, ms, chainedMs] = timeInterleaved([eng.step, gemm.run, () => l.update(s.sample()), chainedRun], [5, 4, steps, Math.max(1, Math.round(steps / K))], 9) as [
      number,
      number,
      number,
      number,
    ];
    peak = Math.max(peak, process.memoryUsage().rss);
    const flops = l.flopsPerUpdate();
    const g = flops / ms / 1e6;
    const engineG = eng.stepFlops / engMs / 1e6;
    const gemmG = gemm.flops / gemmMs / 1e6;
    rows.push([
      algo,
      (1000 / ms).toFixed(1),
      ((1000 * K) / chainedMs).toFixed(1),
      target ? `≥ ${target}` : '—',
      (flops / 1e9).toFixed(2),
      g.toFixed(1),
      engineG.toFixed(1),
      `${((g / engineG) * 100).toFixed(0)}%`,
      gemmG.toFixed(1),
      (gemmG / (flops / 1e9)).toFixed(0),
    ]);
    l.dispose();
    chained.dispose();
  }
  // The Decision Transformer at CORL's TrainConfig size (128 wide, 3 layers, 1 head, context 20,
  // batch 64 windows), with its dropout (keep-masks drawn on the host each update) and without.
  const dtRows: (string | number)[][] = [];
  const seq = new SequenceSampler(ds, { batchSize: DT_DEFAULTS.batchSize, length: DT_DEFAULTS.contextLength, seed: 2, returnScale: DT_DEFAULTS.rewardScale });
  const noDropout = { attentionDropout: 0, residualDropout: 0, embeddingDropout: 0 };
  const chunks = new ChunkSampler(ds, {
    batchSize: DIFFUSION_DEFAULTS.batchSize,
    nObs: DIFFUSION_DEFAULTS.nObs,
    horizon: DIFFUSION_DEFAULTS.horizon,
    nAction: DIFFUSION_DEFAULTS.nAction,
    seed: 3,
  });
  const dts: [string, Learner, () => TrainingBatch, number][] = [
    ['dt (CORL size, dropout 0.1)', await createLearner('dt', task, { targetReturn: 0 }, 0, { threads: 2 }), () => seq.sample(), 3],
    ['dt (CORL size, no dropout)', await createLearner('dt', task, { targetReturn: 0, ...noDropout }, 0, { threads: 2 }), () => seq.sample(), 3],
    ['diffusion (MLP 3×256 with FiLM, batch 256 chunks of 16)', await createLearner('diffusion', task, {}, 0, { threads: 2 }), () => chunks.sample(), 20],
  ];
  const [engMs, gemmMs, ...dtMs] = timeInterleaved(
    [
      eng.step,
      gemm.run,
      ...dts.map(
        ([, l, b]) =>
          () =>
            l.update(b()),
      ),
    ],
    [5, 4, ...dts.map(([, , , n]) => n)],
    7,
  );
  for (const [i, [name, l]] of dts.entries()) {
    const flops = l.flopsPerUpdate();
    const g = flops / dtMs[i]! / 1e6;
    const gemmG = gemm.flops / gemmMs! / 1e6;
    dtRows.push([
      name,
      (1000 / dtMs[i]!).toFixed(2),
      dtMs[i]!.toFixed(0),
      (flops / 1e9).toFixed(2),
      g.toFixed(1),
      (eng.stepFlops / engMs! / 1e6).toFixed(1),
      gemmG.toFixed(1),
      `${((g / gemmG) * 100).toFixed(0)}%`,
    ]);
    l.dispose();
  }
  eng.dispose();
  gemm.dispose();
  console.log(`algorithm throughput — halfcheetah sizes (17/6), batch 256, 2x256 nets, 2 intra-op threads, ${n} transitions in memory — ${machine()}`);
  console.log(
    table(
      [
        'algorithm',
        'updates/s (median)',
        `updates/s, ${K} per run`,
        'target',
        'GFLOP per update',
        'GFLOP/s',
        'engine MLP step GFLOP/s (same rounds)',
        'vs engine step',
        '256³ GEMM chain GFLOP/s (same rounds)',
        'updates/s if every FLOP ran at GEMM speed',
      ],
      rows,
    ),
  );
  console.log(
    `\nDecision Transformer (${DT_DEFAULTS.embeddingDim} wide, ${DT_DEFAULTS.layers} layers, context ${DT_DEFAULTS.contextLength}, batch ${DT_DEFAULTS.batchSize} windows) and Diffusion Policy (diffusion_policy's low-dim sizes), 2 intra-op threads`,
  );
  console.log(
    table(
      [
        'learner',
        'updates/s (median)',
        'ms per update',
        'GFLOP per update',
        'GFLOP/s',
        'engine MLP step GFLOP/s (same rounds)',
        '256³ GEMM chain GFLOP/s (same rounds)',
        'vs GEMM chain (target ≥ 70 %)',
      ],
      dtRows,
    ),
  );
  console.log(`\npeak RSS of this process (dataset + learners): ${(peak / 1e6).toFixed(0)} MB (target ≤ 1500 MB)`);
}
