/**
 * Fleet load (issue 7): N simulated robots (pendulum, random actions, 'mild' profile) stepping at
 * `hz` for `seconds`, each streaming its transitions (TransitionSpool, QoS 1) through a real
 * mosquitto to one online learner that stores them and fine-tunes Cal-QL. Reports transitions/s
 * ingested, loss and duplicates (sequence numbers vs the store), and the learner's lag.
 * O2O_FLEET_ROBOTS, O2O_FLEET_HZ, O2O_FLEET_SECONDS override 32, 50, 60.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeEnv } from '../simulators/index.js';
import { openStore } from '../src/data/index.js';
import { fineTuneOnline } from '../src/online/index.js';
import { train } from '../src/train/index.js';
import { generateRecipe } from '../src/train/datasets.js';
import { MqttLink, TransitionSpool } from '../src/transport/index.js';
import { Rng } from '../src/util/rng.js';
import { startBrokerProcess } from '../test/helpers/broker.js';
import { machine, table } from './stats.js';

export async function run(): Promise<void> {
  const robots = Number(process.env.O2O_FLEET_ROBOTS ?? 32);
  const hz = Number(process.env.O2O_FLEET_HZ ?? 50);
  const seconds = Number(process.env.O2O_FLEET_SECONDS ?? 60);
  const broker = await startBrokerProcess();
  const ds = await generateRecipe('pendulum-medium', 0);
  const pre = await train({
    algo: 'calql',
    dataset: ds,
    task: { obsDim: 3, actDim: 1, maxAction: 2, maxEpisodeSteps: 200 },
    steps: 10,
    config: { actorHidden: [64, 64], criticHidden: [64, 64], nActions: 4 },
    rewardNormalization: 'episode-return-range',
    session: { threads: 1 },
  });
  const store = mkdtempSync(join(tmpdir(), 'o2o-fleet-'));
  const period = 1000 / hz;
  let lagMax = 0;
  const lags: number[] = [];
  let sent = 0;
  let elapsed = 0;
  let fleet: { env: Awaited<ReturnType<typeof makeEnv>>; link: MqttLink; spool: TransitionSpool; obs: Float32Array | number[]; rng: Rng; sent: number }[] = [];
  // The library's loop, with a budget-less learner; the robots are raw spools stepped by this loop.
  const st = await fineTuneOnline({
    pre,
    url: broker.url,
    storeDir: store,
    envId: 'pendulum',
    utd: 0.05, // the ingest path is what this measures; training takes what CPU is left
    budget: {},
    publishEvery: 1_000_000,
    card: { name: 'fleet', task: 'pendulum', algorithm: 'calql' },
    until: 'robots',
    robots: async (ctx) => {
      fleet = await Promise.all(
        Array.from({ length: robots }, async (_, i) => {
          const env = await makeEnv('pendulum', { randomization: 'mild' });
          const link = await MqttLink.connect(broker.url, { clientId: `fleet-${i}` });
          const spool = new TransitionSpool({ dir: mkdtempSync(join(tmpdir(), `fleet-spool-${i}-`)), robotId: `r${i}`, obsDim: 3, actDim: 1, batchRows: 25 });
          await spool.attach(link);
          return { env, link, spool, obs: env.reset(i), rng: new Rng(i), sent: 0 };
        }),
      );
      const t0 = performance.now();
      for (let tick = 0; tick < hz * seconds; tick++) {
        const due = t0 + tick * period;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        for (const r of fleet) {
          const a = [r.rng.uniform(-2, 2)];
          const s = r.env.step(a);
          r.spool.add(r.obs, a, s.reward, s.obs, s.terminated, s.truncated);
          r.obs = s.terminated || s.truncated ? r.env.reset() : s.obs;
          r.sent++;
        }
        if (tick % hz === 0) {
          const lag = fleet.reduce((n, r) => n + r.sent, 0) - ctx.status().onlineTransitions;
          lags.push(lag);
          lagMax = Math.max(lagMax, lag);
        }
      }
      elapsed = (performance.now() - t0) / 1000;
      sent = fleet.reduce((n, r) => n + r.sent, 0);
      await Promise.all(fleet.map((r) => r.spool.drain(60_000)));
      const tDrain = performance.now();
      while (ctx.status().onlineTransitions < sent && performance.now() - tDrain < 60_000) await new Promise((r) => setTimeout(r, 50));
    },
  });
  for (const r of fleet) {
    r.spool.close();
    await r.link.close();
    r.env.close();
  }
  await broker.stop();
  const stored = await openStore(store).read();
  const perRobotOk = fleet.every((r, i) => stored.nextSequence[`r${i}`] === r.sent);
  const sortedLags = [...lags].sort((x, y) => x - y);
  console.log(`fleet load — ${robots} robots × ${hz} Hz × ${seconds} s, pendulum, QoS 1 through mosquitto (loopback), one learner — ${machine()}`);
  console.log(
    table(
      ['robots', 'Hz', 'seconds', 'sent', 'stored', 'lost', 'duplicates stored', 'ingested/s', 'learner lag p50 / max (transitions)', 'updates'],
      [
        [
          robots,
          hz,
          elapsed.toFixed(1),
          sent,
          stored.dataset.size,
          sent - st.onlineTransitions,
          stored.duplicateBatches,
          (st.onlineTransitions / elapsed).toFixed(0),
          `${sortedLags[sortedLags.length >> 1] ?? 0} / ${lagMax}`,
          st.updates,
        ],
      ],
    ),
  );
  console.log(`every robot's sequence numbers complete in the store: ${perRobotOk}; drops: ${JSON.stringify(st.counters)}`);
}
