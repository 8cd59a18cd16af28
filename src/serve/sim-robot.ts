/**
 * `o2o robot sim --task <task> --profile mild --mqtt <url>`: a simulated robot on the wire. It
 * publishes each observation (with the reward and end flags of the step that led to it), waits
 * for the Action answering that sequence number, applies it and steps the simulator — the same
 * loop a real robot runs, so the whole serving path can be exercised end to end on one machine.
 * When no action arrives in time the robot applies its own safe action (zero) and counts it.
 */
import { makeEnv, type ProfileInput } from '../../simulators/index.js';
import { MqttLink } from '../transport/client.js';
import { ActionDecoder, encodeObservation, nowUnixNs } from '../transport/codec.js';
import { robotTopics } from '../transport/topics.js';
import { TransitionSpool } from '../transport/spool.js';

export interface SimRobotOptions {
  url: string;
  task: string;
  /** Randomization profile ('nominal' | 'mild' | 'harsh'); default none. */
  profile?: ProfileInput;
  fleet?: string;
  robot?: string;
  episodes?: number;
  /** Episode e resets with seed + e. */
  seed?: number;
  maxEpisodeSteps?: number;
  /** Control rate: each step starts 1/rateHz after the previous one (default: as fast as actions arrive). */
  rateHz?: number;
  /** How long to wait for each action (default 1000 ms). */
  actionTimeoutMs?: number;
  protocolVersion?: 4 | 5;
  log?: (line: string) => void;
  /** Also send every transition to the online learner: journaled and spooled on disk here until the learner acknowledges that it stored it. */
  spoolDir?: string;
  spoolBatchRows?: number;
  /** Keep acknowledged batches in <spoolDir>/acked/ (an audit trail) instead of deleting them. */
  spoolKeepAcked?: boolean;
  /** How long to wait at the end for the learner's acks (default 30 s); what is left stays spooled for the next run. */
  drainTimeoutMs?: number;
  /** Stops the robot at the next step (the spool keeps everything produced). */
  signal?: AbortSignal;
  /** MQTT credentials (a user:password in the URL works too). */
  username?: string;
  password?: string;
}

export interface SimRobotResult {
  returns: number[];
  lengths: number[];
  meanReturn: number;
  steps: number;
  /** Actions the server marked as safe-filter replacements. */
  safeActions: number;
  /** Steps where no action arrived in time (the robot applied zero). */
  timeouts: number;
  /** Observation → action round trips, milliseconds, per step. */
  roundTripMs: Float64Array;
  policyVersions: string[];
}

export async function runSimRobot(opts: SimRobotOptions): Promise<SimRobotResult> {
  const fleet = opts.fleet ?? 'default';
  const robot = opts.robot ?? 'sim-0';
  const episodes = opts.episodes ?? 1;
  const seed = opts.seed ?? 0;
  const timeout = opts.actionTimeoutMs ?? 1000;
  const env = await makeEnv(opts.task, { randomization: opts.profile, maxEpisodeSteps: opts.maxEpisodeSteps });
  const topics = robotTopics(fleet, robot);
  const link = await MqttLink.connect(opts.url, {
    clientId: `o2o-sim-${robot}-${process.pid}`,
    protocolVersion: opts.protocolVersion,
    username: opts.username,
    password: opts.password,
  });
  const actDim = env.spec.actDim;
  const decoder = new ActionDecoder(actDim);
  const action = new Float32Array(actDim);
  let waiting: { seq: number; resolve: (ok: boolean) => void } | null = null;
  let safe = 0;
  const versions = new Set<string>();
  link.onMessage((topic, payload) => {
    if (topic !== topics.action || !waiting) return;
    let n: number;
    try {
      n = decoder.decode(payload, topic);
    } catch {
      return;
    }
    if (decoder.fields.sequence !== waiting.seq || n !== actDim) return; // a late answer or a watchdog action
    action.set(decoder.values);
    if (decoder.fields.safe) safe++;
    versions.add(decoder.fields.policyVersion);
    lastVersion = decoder.fields.policyVersion;
    const w = waiting;
    waiting = null;
    w.resolve(true);
  });
  await link.subscribe(topics.action, 0);
  let lastVersion = '';
  const spool = opts.spoolDir
    ? new TransitionSpool({
        dir: opts.spoolDir,
        robotId: robot,
        fleet,
        obsDim: env.spec.obsDim,
        actDim,
        batchRows: opts.spoolBatchRows,
        policyVersion: () => lastVersion,
        keepAcked: opts.spoolKeepAcked,
        log: opts.log,
      })
    : null;
  if (spool) {
    await spool.attach(link);
    if (spool.pendingTransitions) opts.log?.(`o2o robot sim: ${spool.pendingTransitions} transitions of earlier runs are still spooled in ${opts.spoolDir}; sending them`);
  }

  const returns: number[] = [];
  const lengths: number[] = [];
  const rtts: number[] = [];
  let timeouts = 0;
  let seq = 1;
  let nextTick = performance.now();
  const fields = { robotId: robot, sequence: 0, timeUnixNs: 0, reward: 0, terminated: false, truncated: false, episode: 0 };
  try {
    for (let ep = 0; ep < episodes && !opts.signal?.aborted; ep++) {
      let obs = env.reset(seed + ep);
      let total = 0;
      let len = 0;
      fields.reward = 0;
      fields.terminated = false;
      fields.truncated = false;
      fields.episode = ep;
      for (;;) {
        fields.sequence = seq;
        fields.timeUnixNs = nowUnixNs();
        if (opts.rateHz) {
          const wait = nextTick - performance.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          nextTick = Math.max(nextTick + 1000 / opts.rateHz, performance.now());
        }
        const t0 = performance.now();
        // The timer compares with this step's number (not the loop variable): a late timer from
        // an earlier step must never cancel the wait of the current one.
        const mySeq = seq;
        const got = new Promise<boolean>((resolve) => {
          waiting = { seq: mySeq, resolve };
          setTimeout(() => {
            if (waiting?.seq === mySeq) {
              waiting = null;
              resolve(false);
            }
          }, timeout);
        });
        link.publish(topics.obs, encodeObservation(fields, obs));
        const ok = await got;
        seq++;
        if (ok) rtts.push(performance.now() - t0);
        else {
          timeouts++;
          action.fill(0);
          opts.log?.(`o2o robot sim: no action for observation ${seq - 1} within ${timeout} ms; applying zero`);
        }
        const r = env.step(action);
        try {
          spool?.add(obs, action, r.reward, r.obs, r.terminated, r.truncated);
        } catch (e) {
          opts.log?.(`o2o robot sim: transition not spooled: ${(e as Error).message}`); // e.g. a NaN from the simulator: never sent
        }
        total += r.reward;
        len++;
        obs = r.obs;
        fields.reward = r.reward;
        fields.terminated = r.terminated;
        fields.truncated = r.truncated;
        if (r.terminated || r.truncated || opts.signal?.aborted) break;
      }
      returns.push(total);
      lengths.push(len);
      opts.log?.(`o2o robot sim: episode ${ep} (seed ${seed + ep}) return ${total.toFixed(2)} in ${len} steps`);
    }
    if (spool && !(await spool.drain(opts.signal?.aborted ? 1500 : (opts.drainTimeoutMs ?? 30_000)))) {
      const why = spool.lastError ? `the learner answered ${spool.lastError.result}: ${spool.lastError.message}` : 'no learner acknowledged them in time';
      opts.log?.(`o2o robot sim: ${spool.pendingTransitions} transitions still spooled in ${opts.spoolDir} (${why}); they are sent on the next run with this --spool`);
    }
  } finally {
    spool?.close();
    await link.close();
    env.close();
  }
  return {
    returns,
    lengths,
    meanReturn: returns.reduce((a, b) => a + b, 0) / Math.max(1, returns.length),
    steps: lengths.reduce((a, b) => a + b, 0),
    safeActions: safe,
    timeouts,
    roundTripMs: Float64Array.from(rtts),
    policyVersions: [...versions],
  };
}
