/**
 * `o2o serve --mqtt <url> --policy <file>`: MQTT serving for robots without ROS.
 *
 * Observations arrive on o2o/<fleet>/robots/<robot>/obs (one server serves every robot of the
 * fleet, each with its own PolicyRuntime so safety state is per robot); each gets an Action on
 * .../action with the same sequence number. A watchdog timer sends the safe action to a robot
 * whose observations stopped. New policies arrive as signed PolicyUpdates on
 * o2o/<fleet>/policy/current (retained) or by rewriting the policy file; either is verified and
 * test-run before it replaces the running one, and a refusal is logged and published in the
 * server's status while the old policy keeps serving. Updates from the topic must be signed by a
 * trusted key (trust.publicKeys): without one, unsigned updates are refused unless
 * trust.allowUnverified is set (development only) — anyone who can publish to the topic could
 * otherwise replace the policy.
 *
 * Per-robot state (a runtime each) expires after robotIdleMs without observations; when
 * maxRobots are served, the robot silent the longest gives its slot to a new one. A robot whose
 * observations have the wrong size gets a RobotStatus with state ERROR and the reason, once,
 * on the server's status topic (not retained; robot_id names the robot) and one server log line.
 *
 * A sequence policy (Decision Transformer) keeps each robot's context in its runtime. Each
 * Observation carries the reward of the step that led to it, the end flags of that step and the
 * robot's episode number; the server feeds the reward to act(), and starts the robot's context
 * again (step 0, its target return) when the episode number changes, after an observation that
 * ended an episode (terminated or truncated set), when the robot's sequence numbers start again
 * (a robot that reconnected as a new session), and on reset(robot). These travel in the
 * observation itself, so they stay in order with it (a separate reset topic would not: MQTT orders
 * messages per topic only). Each robot's target return is targetReturns[robot], else
 * targetReturn, else the card's.
 *
 * A chunked policy (Diffusion Policy, ACT) keeps each robot's action queue and observation history
 * in its runtime (chunks.ts), started again on the same episode boundaries; each robot's noise
 * generator is seeded from `chunking.seed` and its id (robotSeed). A hot swap reaches each robot at
 * its next plan: the actions the old policy queued for it finish first.
 */
import { unwatchFile, watchFile } from 'node:fs';
import { o2oType } from '../data/schema/proto.js';
import { MqttLink, redactUrl } from '../transport/client.js';
import { CodecError, encodeAction, nowUnixNs, ObservationDecoder } from '../transport/codec.js';
import { fleetObsFilter, policyTopic, robotOf, robotTopics, serverStatusTopic } from '../transport/topics.js';
import { type ArtifactInput, type PolicyDescription, readArtifactFile, type SignatureSidecar } from './artifact.js';
import { robotSeed } from './exploration.js';
import { PolicyRuntime } from './runtime.js';
import type { RuntimeOptions, RuntimeStatus, StepInfo, SwapResult } from './runtime-types.js';

export interface ServeMqttOptions extends Omit<RuntimeOptions, 'onEvent'> {
  url: string;
  /** Policy file (with optional .sig / .sha256 beside it) or artifact bytes. */
  policy: string | ArtifactInput;
  fleet?: string;
  /** Name of this server in o2o/<fleet>/serve/<server>/status (default 'policy-server'). */
  serverId?: string;
  /** Accept PolicyUpdates on o2o/<fleet>/policy/current (default true). */
  updatesFromTopic?: boolean;
  /** Swap when the policy file changes (default true when `policy` is a path). */
  watchFile?: boolean;
  /** Most robots served at once (default 64): a runtime is made per robot on its first observation. */
  maxRobots?: number;
  /** A robot without observations for this long loses its runtime (default 10000 ms). */
  robotIdleMs?: number;
  username?: string;
  password?: string;
  log?: (line: string) => void;
  protocolVersion?: 4 | 5;
  /** Target return per robot id (sequence policies), over `targetReturn` (every robot) and the card's. */
  targetReturns?: Readonly<Record<string, number>>;
  /** How to call the policy file when it is a foreign ONNX that takes a context (`o2o serve --interface`); else `<file>.card.json` beside it. */
  description?: PolicyDescription;
}

export interface MqttServer {
  readonly url: string;
  /** Status per robot served so far. */
  status(): Record<string, RuntimeStatus>;
  /** Swap every robot's policy (what the file watch and the update topic call). */
  swap(input: ArtifactInput): SwapResult;
  /** Starts the robot's context again at its next observation (sequence policies); false when the robot is not being served. */
  reset(robot: string): boolean;
  readonly version: string;
  close(): Promise<void>;
}

const RobotStatusType = () => o2oType('RobotStatus');

function encodeStatus(robotId: string, state: number, version: string, message: string): Uint8Array {
  const T = RobotStatusType();
  return T.encode(T.fromObject({ robot_id: robotId, state, policy_version: version, time_unix_ns: Math.floor(nowUnixNs()), message })).finish();
}

const STATE = { RUNNING: 2, SAFE_STOP: 3, OFFLINE: 4, ERROR: 5 };

/** Decodes a RobotStatus (e.g. a server status or a per-robot error from the server). */
export function decodeRobotStatus(payload: Uint8Array): { robotId: string; state: number; policyVersion: string; message: string } {
  const T = RobotStatusType();
  const m = T.toObject(T.decode(payload), { longs: Number, enums: Number }) as { robot_id?: string; state?: number; policy_version?: string; message?: string };
  return { robotId: m.robot_id ?? '', state: m.state ?? 0, policyVersion: m.policy_version ?? '', message: m.message ?? '' };
}

/** A PolicyUpdate message → artifact input (signature sidecar from its signature/key_id). */
export function policyUpdateToArtifact(payload: Uint8Array, source: string): ArtifactInput {
  const T = o2oType('PolicyUpdate');
  const m = T.toObject(T.decode(payload), { bytes: Array, longs: Number }) as { version?: string; onnx?: number[]; sha256?: string; signature?: number[]; key_id?: string };
  const bytes = Uint8Array.from(m.onnx ?? []);
  const signature: SignatureSidecar | null = m.signature?.length
    ? { format: 'o2o-signature/1', algorithm: 'ed25519', keyId: m.key_id ?? '', sha256: m.sha256 ?? '', signature: Buffer.from(m.signature).toString('base64') }
    : null;
  return { bytes, source: `${source} (version ${m.version ?? '?'})`, signature, sha256: m.sha256 || null };
}

/** Encodes a PolicyUpdate for o2o/<fleet>/policy/current. */
export function encodePolicyUpdate(input: { version: string; bytes: Uint8Array; sha256: string; signature?: SignatureSidecar | null; cardJson?: string }): Uint8Array {
  const T = o2oType('PolicyUpdate');
  return T.encode(
    T.fromObject({
      version: input.version,
      onnx: input.bytes,
      sha256: input.sha256,
      signature: input.signature ? Buffer.from(input.signature.signature, 'base64') : new Uint8Array(0),
      key_id: input.signature?.keyId ?? '',
      card_json: input.cardJson ?? '',
      time_unix_ns: Math.floor(nowUnixNs()),
    }),
  ).finish();
}

export async function serveMqtt(opts: ServeMqttOptions): Promise<MqttServer> {
  const fleet = opts.fleet ?? 'default';
  const serverId = opts.serverId ?? 'policy-server';
  const log = opts.log ?? ((l: string) => console.log(l));
  const statusTopic = serverStatusTopic(fleet, serverId);
  const describe = (input: ArtifactInput): ArtifactInput => (opts.description && !input.description ? { ...input, description: opts.description } : input);
  let current: ArtifactInput = describe(typeof opts.policy === 'string' ? readArtifactFile(opts.policy) : opts.policy);
  // The template verifies the policy before anything connects (a bad file fails fast); it serves
  // no robot, so it always holds the running version, and it verifies each update first.
  const template = PolicyRuntime.open(current, opts);
  const obsDim = template.obsDim;
  interface Slot {
    rt: PolicyRuntime;
    topic: string;
    lastSeen: number;
    /** What act() is told about each step (reused). */
    step: StepInfo;
    /** The robot's last episode number and sequence number (-1: none yet). */
    episode: number;
    sequence: number;
    /** The last observation ended an episode: the next one starts a new context. */
    ended: boolean;
  }
  const runtimes = new Map<string, Slot>();
  const maxRobots = opts.maxRobots ?? 64;
  const idleMs = opts.robotIdleMs ?? 10_000;
  if (!(idleMs > 0)) throw new RangeError(`serveMqtt: robotIdleMs is ${idleMs}; it must be > 0`);
  // Robots told about a wrong observation size, and robots refused for lack of a slot: one
  // message each (bounded: a flood of junk ids cannot grow these without limit).
  const reported = new Set<string>();
  const refused = new Set<string>();
  const remember = (set: Set<string>, robot: string): boolean => {
    if (set.has(robot)) return false;
    if (set.size >= 4 * maxRobots) set.delete(set.values().next().value as string);
    set.add(robot);
    return true;
  };
  const shownUrl = redactUrl(opts.url);
  const allowUnsigned = opts.trust?.allowUnverified === true;
  const trusted = (opts.trust?.publicKeys ?? []).length > 0;

  const link = await MqttLink.connect(opts.url, {
    username: opts.username,
    password: opts.password,
    clientId: `o2o-serve-${fleet}-${serverId}-${process.pid}`, // unique per fleet: a second server in this process must not take over the first one's session
    protocolVersion: opts.protocolVersion,
    will: { topic: statusTopic, payload: encodeStatus(serverId, STATE.OFFLINE, '', 'connection lost'), retain: true },
  });
  const publishStatus = (message: string) => link.publish(statusTopic, encodeStatus(serverId, STATE.RUNNING, template.version, message), { qos: 1, retain: true });

  const release = (robot: string, why: string) => {
    const r = runtimes.get(robot);
    if (!r) return;
    runtimes.delete(robot);
    r.rt.dispose();
    log(`o2o serve: robot '${robot}' ${why}; its slot is freed (${runtimes.size} of ${maxRobots} in use)`);
  };

  const runtimeFor = (robot: string, now: number): Slot | null => {
    let r = runtimes.get(robot);
    if (r) {
      r.lastSeen = now;
      return r;
    }
    if (runtimes.size >= maxRobots) {
      // The robot silent the longest gives up its slot if it has been silent for a while.
      let oldest: string | null = null;
      let oldestAt = Infinity;
      for (const [name, s] of runtimes) {
        if (s.lastSeen < oldestAt) {
          oldestAt = s.lastSeen;
          oldest = name;
        }
      }
      if (oldest === null || now - oldestAt < Math.min(1000, idleMs)) {
        if (remember(refused, robot)) log(`o2o serve: robot '${robot}' refused: ${maxRobots} robots are active (maxRobots); it is served when one goes silent`);
        return null;
      }
      release(oldest, `silent for ${((now - oldestAt) / 1000).toFixed(1)} s, making room for '${robot}'`);
    }
    refused.delete(robot);
    const rt = PolicyRuntime.open(current, {
      ...opts,
      targetReturn: opts.targetReturns?.[robot] ?? opts.targetReturn,
      // Each robot draws its own chunked policy's noise (deterministic per fleet seed and robot id).
      chunking: { ...opts.chunking, seed: robotSeed(opts.chunking?.seed ?? 0, robot) },
    });
    // Each robot draws its own exploration noise.
    if (opts.exploration) rt.setExploration({ ...opts.exploration, seed: robotSeed(opts.exploration.seed ?? 0, robot) });
    r = { rt, topic: robotTopics(fleet, robot).action, lastSeen: now, step: { reward: 0, episodeStart: true }, episode: -1, sequence: -1, ended: false };
    runtimes.set(robot, r);
    log(`o2o serve: serving robot '${robot}' with policy ${rt.version}`);
    return r;
  };

  const reportBadSize = (robot: string, n: number) => {
    if (!remember(reported, robot)) return;
    const message = `robot '${robot}': observation has ${n} values, policy ${template.version} expects ${obsDim}; check the robot's task/observation layout against the policy card — it gets safe actions until it sends ${obsDim} values`;
    log(`o2o serve: ${message}`);
    link.publish(statusTopic, encodeStatus(robot, STATE.ERROR, template.version, message), { qos: 1 });
  };

  const decoder = new ObservationDecoder(obsDim);
  const actionFields = { robotId: '', sequence: 0, timeUnixNs: 0, policyVersion: '', safe: false, faults: 0 };
  const send = (robot: string, r: Slot, action: Float32Array, sequence: number, replacedBefore: number) => {
    actionFields.robotId = robot;
    actionFields.sequence = sequence;
    actionFields.timeUnixNs = nowUnixNs();
    actionFields.policyVersion = r.rt.version;
    actionFields.safe = r.rt.filter.replaced > replacedBefore;
    actionFields.faults = r.rt.filter.replaced;
    link.publish(r.topic, encodeAction(actionFields, action));
  };

  const swapAll = (input: ArtifactInput): SwapResult => {
    const all = [template, ...[...runtimes.values()].map((r) => r.rt)];
    let res: SwapResult = { ok: true, version: template.version };
    for (const rt of all) {
      res = rt.swap(input);
      if (!res.ok) break;
    }
    if (res.ok) {
      current = input;
      log(`o2o serve: now serving policy ${res.version} (from ${input.source})`);
      publishStatus(`serving ${res.version}`);
    } else {
      log(`o2o serve: refused policy from ${input.source}: ${res.reason}; still serving ${res.version}`);
      publishStatus(`refused update: ${res.reason}`);
    }
    return res;
  };

  const obsFilter = fleetObsFilter(fleet);
  const updates = policyTopic(fleet);
  link.onMessage((topic, payload) => {
    if (topic === updates) {
      if (payload.length === 0) return; // a cleared retained update
      let input: ArtifactInput;
      try {
        input = policyUpdateToArtifact(payload, topic);
      } catch (e) {
        log(`o2o serve: undecodable PolicyUpdate on ${topic} (${(e as Error).message}); ignored, still serving ${template.version}`);
        return;
      }
      if (input.sha256 && input.sha256 === template.status().sha256) return; // the retained copy of what runs
      if (!input.signature && !allowUnsigned) {
        const reason = trusted
          ? 'unsigned; this server requires an ed25519 signature by a trusted key'
          : "unsigned, and this server has no trusted key; give it the publisher's public key (o2o serve --trusted-key <file.pub>) or, for development only, allowUnverified (--allow-unverified)";
        log(`o2o serve: refused policy from ${input.source}: ${reason}; still serving ${template.version}`);
        publishStatus(`refused update: ${reason}`);
        return;
      }
      swapAll(input);
      return;
    }
    const robot = robotOf(topic);
    if (!robot) return;
    const r = runtimeFor(robot, performance.now());
    if (!r) return;
    const before = r.rt.filter.replaced;
    let n: number;
    try {
      n = decoder.decode(payload, topic);
    } catch (e) {
      if (!(e instanceof CodecError)) throw e;
      send(robot, r, r.rt.reject('badMessage'), 0, before);
      return;
    }
    const f = decoder.fields;
    const seq = f.sequence;
    // The step's place in the robot's episode (sequence policies; mlp policies ignore it).
    const step = r.step;
    step.episodeStart = r.ended || f.episode !== r.episode || (seq > 0 && seq <= r.sequence);
    step.reward = f.reward;
    r.ended = f.terminated || f.truncated;
    r.episode = f.episode;
    if (seq > 0) r.sequence = seq;
    if (n !== obsDim) {
      reportBadSize(robot, n);
      if (step.episodeStart) r.rt.reset();
      send(robot, r, r.rt.reject('obsLength'), seq, before);
      return;
    }
    const now = performance.now();
    const t = f.timeUnixNs;
    step.now = now;
    step.obsTime = t > 0 ? now - (nowUnixNs() - t) / 1e6 : now;
    send(robot, r, r.rt.act(decoder.values, step), seq, before);
  });
  await link.subscribe(obsFilter, 0);
  if (opts.updatesFromTopic ?? true) await link.subscribe(updates, 1);
  publishStatus(`serving ${template.version}`);
  log(`o2o serve: policy ${template.version} (${template.status().verifiedBy}) on ${shownUrl}, fleet '${fleet}', observations on ${obsFilter}`);

  const sweeper = setInterval(
    () => {
      const now = performance.now();
      for (const [robot, r] of runtimes) if (now - r.lastSeen > idleMs) release(robot, `sent no observation for ${(idleMs / 1000).toFixed(1)} s`);
    },
    Math.max(10, Math.min(1000, idleMs / 2)),
  );
  sweeper.unref();
  let watchdog: NodeJS.Timeout | null = null;
  const stale = template.filter.staleAfterMs;
  if (Number.isFinite(stale)) {
    watchdog = setInterval(
      () => {
        const now = performance.now();
        for (const [robot, r] of runtimes) {
          const before = r.rt.filter.replaced;
          const a = r.rt.watchdog(now);
          if (a) send(robot, r, a, 0, before);
        }
      },
      Math.max(1, stale / 2),
    );
  }
  const file = typeof opts.policy === 'string' ? opts.policy : null;
  const watching = file !== null && (opts.watchFile ?? true);
  if (watching) {
    watchFile(file, { interval: 200 }, (cur, prev) => {
      if (cur.mtimeMs === prev.mtimeMs && cur.size === prev.size) return;
      try {
        swapAll(describe(readArtifactFile(file)));
      } catch (e) {
        log(`o2o serve: cannot read ${file} (${(e as Error).message}); still serving ${template.version}`);
      }
    });
  }

  return {
    url: shownUrl,
    get version() {
      return template.version;
    },
    status: () => Object.fromEntries([...runtimes].map(([k, r]) => [k, r.rt.status()])),
    swap: swapAll,
    reset: (robot) => {
      const r = runtimes.get(robot);
      r?.rt.reset();
      return r !== undefined;
    },
    close: async () => {
      clearInterval(sweeper);
      if (watchdog) clearInterval(watchdog);
      if (watching) unwatchFile(file);
      link.publish(statusTopic, encodeStatus(serverId, STATE.OFFLINE, template.version, 'stopped'), { qos: 1, retain: true });
      await link.close();
      for (const r of runtimes.values()) r.rt.dispose();
      runtimes.clear();
      template.dispose();
    },
  };
}
