import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { datasetKey, pickSettings, referencePreprocessing } from '../../src/algos/index.js';
import { DatasetBuilder } from '../../src/data/index.js';
import { readCheckpoint, train } from '../../src/train/index.js';

describe('reference preprocessing per algorithm and dataset (CORL configs)', () => {
  it('reads recipe names, D4RL names and D4RL files alike', () => {
    expect(datasetKey('hopper-medium-replay')).toEqual({ env: 'hopper', kind: 'medium-replay' });
    expect(datasetKey('hopper-medium-replay-v2')).toEqual({ env: 'hopper', kind: 'medium-replay' });
    expect(datasetKey('/data/d4rl/hopper_medium_replay-v2.hdf5')).toEqual({ env: 'hopper', kind: 'medium-replay' });
    expect(datasetKey('pendulum-medium')).toBeNull();
  });

  it('IQL rescales rewards by the episode-return range on hopper-medium and hopper-medium-replay only', () => {
    expect(referencePreprocessing('iql', 'hopper-medium')).toMatchObject({
      normalizeObservations: true,
      reward: 'episode-return-range',
      source: 'CORL configs/offline/iql/hopper/medium_v2.yaml',
    });
    expect(referencePreprocessing('iql', 'hopper-medium-replay').reward).toBe('episode-return-range');
    for (const d of ['hopper-medium-expert', 'halfcheetah-medium', 'halfcheetah-medium-replay', 'walker2d-medium', 'walker2d-medium-replay', 'pendulum-medium']) {
      expect(referencePreprocessing('iql', d).reward).toBe('none');
    }
    expect(referencePreprocessing('iql', 'antmaze-umaze-v2').reward).toEqual({ scale: 1, bias: -1 });
  });

  it('CQL rescales on hopper-medium only; TD3+BC and BC never; all three normalize states', () => {
    expect(referencePreprocessing('cql', 'hopper-medium')).toMatchObject({ normalizeObservations: true, reward: 'episode-return-range' });
    expect(referencePreprocessing('cql', 'hopper-medium-replay')).toMatchObject({ normalizeObservations: true, reward: 'none' });
    expect(referencePreprocessing('cql', 'walker2d-medium').reward).toBe('none');
    expect(referencePreprocessing('td3bc', 'hopper-medium')).toMatchObject({ normalizeObservations: true, reward: 'none' });
    expect(referencePreprocessing('bc', 'hopper-medium')).toMatchObject({ normalizeObservations: true, reward: 'none' });
  });

  it('Cal-QL: raw states and raw rewards (its configs: normalize false); antmaze r × 10 − 5', () => {
    expect(referencePreprocessing('calql', 'hopper-medium-replay')).toMatchObject({ normalizeObservations: false, reward: 'none' });
    expect(referencePreprocessing('calql', 'antmaze-large-play-v2')).toMatchObject({ normalizeObservations: false, reward: { scale: 10, bias: -5 } });
  });
});

/** Three episodes of 4 steps with different returns (so the return-range scaling is defined). */
function tiny(): ReturnType<DatasetBuilder['build']> {
  const b = new DatasetBuilder(3, 1);
  for (let ep = 0; ep < 3; ep++) {
    for (let t = 0; t < 4; t++) b.add({ obs: [ep, t, 1], action: [0.1 * t], reward: ep + 1, nextObs: [ep, t + 1, 1], terminal: false, timeout: t === 3 });
  }
  return b.build();
}

describe('the trainer applies the recipe’s preprocessing and records it in the run log and the checkpoint', () => {
  const task = { obsDim: 3, actDim: 1, maxAction: 1, maxEpisodeSteps: 4 };
  const small = { hidden: [8], actorHidden: [8], criticHidden: [8], batchSize: 4, nActions: 2 };
  const trainTiny = async (algo: string, datasetId: string, extra: object = {}) => {
    const dir = mkdtempSync(join(tmpdir(), 'o2o-pre-'));
    const logPath = join(dir, 'log.jsonl');
    const r = await train({
      algo,
      dataset: tiny(),
      datasetId,
      task,
      steps: 2,
      config: pickSettings(algo, small),
      checkpointDir: dir,
      checkpointEvery: 2,
      logPath,
      session: { threads: 1 },
      ...extra,
    });
    const ckpt = readCheckpoint(join(dir, readdirSync(dir).find((f) => f.endsWith('.o2o'))!));
    const first = JSON.parse(readFileSync(logPath, 'utf8').split('\n')[0]!);
    r.learner.dispose();
    return { r, meta: ckpt.meta, header: first.run };
  };

  it('IQL on hopper-medium: return-range rewards, normalized states', async () => {
    const { r, meta, header } = await trainTiny('iql', 'hopper-medium');
    expect(r.preprocessing).toMatchObject({ normalizeObservations: true, reward: 'episode-return-range', source: 'CORL configs/offline/iql/hopper/medium_v2.yaml' });
    expect(r.rewardTransform!.scale).toBeCloseTo(4 / (12 - 4), 6); // maxEpisodeSteps / (max return − min return)
    expect(r.obsStats).not.toBeNull();
    expect(meta.preprocessing).toEqual(r.preprocessing);
    expect(meta.rewardTransform).toEqual(r.rewardTransform);
    expect(header.preprocessing).toEqual(r.preprocessing);
    expect(header.config.expectile).toBeDefined();
  });

  it('IQL on halfcheetah-medium: raw rewards', async () => {
    const { r, meta } = await trainTiny('iql', 'halfcheetah-medium');
    expect(r.preprocessing.reward).toBe('none');
    expect(r.rewardTransform).toBeNull();
    expect(Array.from(r.prepared.rewards)).toEqual(Array.from(tiny().rewards));
    expect(meta.preprocessing).toMatchObject({ reward: 'none' });
  });

  it('Cal-QL: raw states (no obsStats), recorded as such', async () => {
    const { r, meta, header } = await trainTiny('calql', 'hopper-medium');
    expect(r.obsStats).toBeNull();
    expect(meta.obsStats).toBeNull();
    expect(meta.preprocessing).toMatchObject({ normalizeObservations: false, reward: 'none' });
    expect(header.config.maxTargetBackup).toBe(true);
  });

  it('an explicit choice overrides the reference and says so', async () => {
    const { r, meta } = await trainTiny('calql', 'hopper-medium', { rewardNormalization: 'episode-return-range', normalizeObservations: true });
    expect(r.obsStats).not.toBeNull();
    expect(meta.preprocessing).toMatchObject({ normalizeObservations: true, reward: 'episode-return-range' });
    expect((meta.preprocessing as { source: string }).source).toMatch(/^set by the caller/);
  });
});
