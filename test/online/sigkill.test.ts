import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeEnv } from '../../simulators/index.js';
import { openStore } from '../../src/data/index.js';
import type { OnlineLearnerStatus } from '../../src/online/index.js';
import { MqttLink, TransitionSpool } from '../../src/transport/index.js';
import { Rng } from '../../src/util/rng.js';
import { type Broker, startBrokerProcess } from '../helpers/broker.js';
import { missingMosquitto } from '../helpers/mosquitto.js';
import { requireOrSkip } from '../helpers/python.js';

const tsxLoader = createRequire(import.meta.url).resolve('tsx');
const script = join(import.meta.dirname, 'fixtures', 'learner-proc.ts');

/** Starts the learner process; resolves its latest status line through `latest()`. */
function startLearner(url: string, store: string, budget: number) {
  // node --import tsx (not npx tsx): SIGKILL must hit the learner itself, not a wrapper.
  const proc: ChildProcess = spawn(process.execPath, ['--import', tsxLoader, script, url, store, String(budget)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let last: OnlineLearnerStatus | null = null;
  let closed = false;
  const logs: string[] = [];
  let buf = '';
  proc.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const lines = buf.split('\n');
    buf = lines.pop()!;
    for (const l of lines) {
      try {
        const m = JSON.parse(l);
        if (m.status) last = m.status;
        if (m.closed) closed = true;
        if (m.log) logs.push(m.log);
      } catch {
        /* not ours */
      }
    }
  });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return { proc, latest: () => last, closed: () => closed, exited, stderr: () => stderr, logs };
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.runIf(requireOrSkip(missingMosquitto()))('a learner killed with SIGKILL', () => {
  let broker: Broker;
  beforeAll(async () => {
    broker = await startBrokerProcess({ persistence: false }); // the broker keeps nothing across its restart: delivery must not need it
  });
  afterAll(async () => broker?.stop());

  it('resumes from its checkpoint and dataset with nothing lost or duplicated', async () => {
    const store = mkdtempSync(join(tmpdir(), 'o2o-sigkill-'));
    const budget = 800;
    const first = startLearner(broker.url, store, budget);
    await until(() => first.latest() !== null, 60_000, 'the first learner to start');

    // Two robots stream 400 transitions each while the learner is killed and restarted.
    const env = await makeEnv('pendulum');
    const robots = await Promise.all(
      ['robot-a', 'robot-b'].map(async (name) => {
        const link = await MqttLink.connect(broker.url, { clientId: name });
        const spool = new TransitionSpool({ dir: mkdtempSync(join(tmpdir(), `spool-${name}-`)), robotId: name, obsDim: 3, actDim: 1, batchRows: 20 });
        await spool.attach(link);
        return { link, spool };
      }),
    );
    const rng = new Rng(1);
    let obs = env.reset(0);
    let second: ReturnType<typeof startLearner> | null = null;
    for (let t = 0; t < 400; t++) {
      for (const r of robots) {
        const a = [rng.uniform(-2, 2)];
        const s = env.step(a);
        r.spool.add(obs, a, s.reward, s.obs, s.terminated, s.truncated);
        obs = s.terminated || s.truncated ? env.reset() : s.obs;
      }
      if (t === 150) {
        await until(() => existsSync(join(store, 'ckpt')) && readdirSync(join(store, 'ckpt')).some((f) => f.endsWith('.o2o')), 60_000, 'a first checkpoint');
        first.proc.kill('SIGKILL');
        await first.exited;
        second = startLearner(broker.url, store, budget);
      }
      if (t % 10 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    for (const r of robots) expect(await r.spool.drain(60_000)).toBe(true);
    await until(() => second!.closed(), 120_000, `the second learner to finish (stderr: ${second!.stderr().slice(-500)})`);
    const st = second!.latest()!;
    for (const r of robots) await r.link.close();
    env.close();

    const stored = await openStore(store).read();
    expect(stored.dataset.size).toBe(budget);
    expect(stored.nextSequence).toMatchObject({ 'robot-a': 400, 'robot-b': 400 });
    expect(stored.duplicateBatches).toBe(0);
    expect(st.onlineTransitions).toBe(budget);
    expect(st.done).toBe(true);
    // Training resumed from the first learner's checkpoint, with the transitions already stored.
    expect(second!.logs.some((l) => /^resumed from online-\d+\.o2o: \d+ updates, [1-9]\d* online transitions on disk/.test(l))).toBe(true);
    expect(st.updates).toBeGreaterThanOrEqual(budget);
  }, 300_000);
});
