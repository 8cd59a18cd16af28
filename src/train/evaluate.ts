import type { Env } from '../../simulators/index.js';
import { Session } from '../engine/index.js';
import { type PolicyInterface, servingGraph } from '../nn/index.js';
import { TrainError, type TrainedPolicyView } from './trainer.js';

export interface EvalResult {
  returns: number[];
  lengths: number[];
  mean: number;
  std: number;
  /** D4RL normalized score: 100 · (R − R_random) / (R_expert − R_random). */
  normalized: number;
}

export type PolicyFn = (obs: Float32Array) => ArrayLike<number>;

/** What a policy with memory (a sequence policy's context) is told besides each observation. */
export interface EpisodeHooks {
  /** Before an episode's first observation. */
  episodeStart(): void;
  /** After each step, with its reward. */
  reward(r: number): void;
}

/** Runs `episodes` full episodes with seeds seed, seed+1, ...; the policy sees raw observations. */
export function evaluate(env: Env, policy: PolicyFn, episodes: number, seed: number, hooks?: EpisodeHooks): EvalResult {
  const returns: number[] = [];
  const lengths: number[] = [];
  for (let ep = 0; ep < episodes; ep++) {
    let obs = env.reset(seed + ep);
    hooks?.episodeStart();
    let total = 0;
    let len = 0;
    for (;;) {
      const r = env.step(policy(obs));
      hooks?.reward(r.reward);
      total += r.reward;
      len++;
      obs = r.obs;
      if (r.terminated || r.truncated) break;
    }
    returns.push(total);
    lengths.push(len);
  }
  const mean = returns.reduce((a, b) => a + b, 0) / episodes;
  const std = Math.sqrt(returns.reduce((a, b) => a + (b - mean) ** 2, 0) / episodes);
  return { returns, lengths, mean, std, normalized: normalizedScore(env, mean) };
}

export function normalizedScore(env: Env, ret: number): number {
  const { random, expert } = env.spec.refScores;
  return (100 * (ret - random)) / (expert - random);
}

/** A deterministic-policy session for a learner's current policy (its serving graph, normalization baked in). */
export async function policySession(view: TrainedPolicyView): Promise<Session> {
  const policy = view.learner.policy();
  if (policy.interface.kind === 'chunked')
    throw new TrainError(`${view.learner.algo}: evaluating a 'chunked' policy (action chunks) in the trainer is not supported yet; 'mlp' and 'sequence' policies are`);
  const g = servingGraph(policy, view.obsStats ? { obsMean: view.obsStats.mean, obsStd: view.obsStats.std } : {});
  return Session.create(g, { threads: 1, name: 'policy' });
}

/**
 * A sequence policy's context over an episode, as a server keeps it (left-padded window of the
 * last K steps: observations, the actions taken, returns-to-go from the target down by each reward,
 * timesteps, mask 1 on real steps), fed to its session.
 */
function sequenceContext(session: Session, iface: PolicyInterface, obsDim: number, actDim: number, targetReturn: number): { act: PolicyFn } & EpisodeHooks {
  const K = iface.contextLength;
  const role = (r: string) => iface.extraInputs.find((x) => (x.role as string) === r);
  const obs = new Float32Array(K * obsDim);
  const acts = new Float32Array(K * actDim);
  const rtg = new Float32Array(K);
  const ts = new BigInt64Array(K);
  const mask = new Float32Array(K);
  const feeds: Record<string, Float32Array | BigInt64Array> = { obs };
  const rtgInput = role('returns-to-go');
  const scale = rtgInput?.scale ?? 1;
  for (const [r, buf] of [
    ['actions', acts],
    ['returns-to-go', rtg],
    ['timesteps', ts],
    ['mask', mask],
  ] as const) {
    const x = role(r);
    if (x) feeds[x.name] = buf;
  }
  let t = 0;
  let lastReward = 0;
  const shift = (a: Float32Array | BigInt64Array, w: number) => a.copyWithin(0, w);
  return {
    episodeStart() {
      obs.fill(0);
      acts.fill(0);
      rtg.fill(0);
      ts.fill(0n);
      mask.fill(0);
      t = 0;
    },
    reward(r) {
      lastReward = r;
    },
    act(o) {
      const ret = t === 0 ? targetReturn / scale : rtg[K - 1]! - lastReward / scale;
      shift(obs, obsDim);
      shift(acts, actDim);
      shift(rtg, 1);
      shift(ts, 1);
      shift(mask, 1);
      obs.set(o, (K - 1) * obsDim);
      acts.fill(0, (K - 1) * actDim);
      rtg[K - 1] = ret;
      ts[K - 1] = BigInt(t);
      mask[K - 1] = 1;
      const a = session.run(feeds).action as Float32Array;
      acts.set(a, (K - 1) * actDim);
      t++;
      return a;
    },
  };
}

/** Evaluates a learner's current greedy policy in `env` (a sequence policy conditioned on its card's target return). */
export async function evaluateLearner(env: Env, view: TrainedPolicyView, episodes: number, seed: number): Promise<EvalResult> {
  const s = await policySession(view);
  try {
    const policy = view.learner.policy();
    if (policy.interface.kind === 'sequence') {
      const target = policy.interface.extraInputs.find((x) => x.role === 'returns-to-go')?.default;
      if (target === undefined) throw new TrainError(`${view.learner.algo}: its policy declares no target return to condition on`);
      const ctx = sequenceContext(s, policy.interface, policy.obsDim, policy.actDim, target);
      return evaluate(env, ctx.act, episodes, seed, ctx);
    }
    return evaluate(env, (obs) => s.run({ obs }).action as Float32Array, episodes, seed);
  } finally {
    s.dispose();
  }
}
