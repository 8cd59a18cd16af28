/**
 * `o2o serve`, `o2o robot sim`, `o2o export`, `o2o keygen`: argument parsing only; the work is in
 * src/serve (serveMqtt, runSimRobot, exportPolicyFile, writeSigningKey) and ros/main.ts.
 */
import { readFileSync } from 'node:fs';
import { exportPolicyFile, runSimRobot, type SafeActionMode, serveMqtt, writeSigningKey } from '../serve/index.js';
import { redactUrl, startBroker } from '../transport/index.js';
import { type Args, type CommandSpec, chunkingFlags, descriptionFlag, MQTT_AUTH_FLAGS, UsageError, bool, list, mqttAuth, num, numbers, optNum, optStr, str } from './args.js';
import { onStopSignal } from './learn.js';

export const SERVE_USAGE = `o2o serve --mqtt <mqtt://host:port | embedded> --policy <file.onnx> (--trusted-key key.pub ... | --allow-unverified)
  [--fleet default] [--server-id policy-server] [--port 1883 (embedded)] [--username U --password P]
  [--ep cpu|cuda|webgpu] [--safe-action zero|hold] [--max-delta X] [--stale-ms N] [--no-watch]
  [--max-robots 64] [--robot-idle-ms 10000]
  [--explore [--explore-temperature 1] [--explore-noise 0.1] [--explore-seed 0]]   (sample actions: online data collection)
  [--target-return R | robot=R,...] [--interface <json | file>] [--action-horizon N | --temporal-ensembling M] [--chunk-seed 0]
  --action-horizon: a chunked policy (Diffusion Policy, ACT) executes N actions of each chunk, then plans again
  (default: its card's); --temporal-ensembling M plans every step and averages the overlapping chunks with
  weights exp(-M·i) (ACT: 0.01); --chunk-seed: each robot's noise generator is seeded from it and its id.
  --target-return: a sequence policy's (Decision Transformer) target return instead of its card's, for every
  robot (R) or one (robot=R). --interface describes a foreign ONNX that takes a context (states, actions,
  returns_to_go, timesteps, attention_mask), as JSON or a JSON file; or put it in <file.onnx>.card.json.
  --trusted-key (repeatable, or comma-separated): the public key from 'o2o keygen'; policy updates
  must be signed by one of them. --allow-unverified accepts unsigned policies (development only).
  credentials: --username/--password, a user:password in the URL, or O2O_MQTT_USERNAME/O2O_MQTT_PASSWORD.
o2o serve --ros [--ros-args --params-file ros/config/policy.yaml]   (needs ROS 2 sourced and 'cd ros && npm install')`;

export const SERVE_SPEC: CommandSpec = {
  name: 'o2o serve',
  rawAfter: '--ros-args',
  flags: {
    mqtt: 'string',
    policy: 'string',
    fleet: 'string',
    'server-id': 'string',
    port: 'int',
    'trusted-key': 'list',
    'allow-unverified': 'bool',
    ep: ['cpu', 'cuda', 'webgpu'],
    'safe-action': ['zero', 'hold'],
    'max-delta': 'number',
    'stale-ms': 'number',
    'no-watch': 'bool',
    'max-robots': 'int',
    'robot-idle-ms': 'number',
    explore: 'bool',
    'explore-temperature': 'number',
    'explore-noise': 'number',
    'explore-seed': 'int',
    'target-return': 'list',
    interface: 'string',
    'action-horizon': 'int',
    'temporal-ensembling': 'number',
    'chunk-seed': 'int',
    ros: 'bool',
    ...MQTT_AUTH_FLAGS,
  },
};

export const ROBOT_USAGE = `o2o robot sim --task <pendulum|hopper|...> --mqtt <url> [--profile nominal|mild|harsh] [--fleet default] [--robot sim-0]
  [--episodes N] [--seed N] [--action-timeout-ms N] [--rate-hz N] [--username U --password P]
  [--spool <dir> [--spool-batch-rows 64] [--drain-timeout-ms 30000] [--keep-acked]]
  --spool: also stream every transition to the learner, kept on disk in <dir> until the learner acknowledges
  that it stored it (run again with the same --spool and --robot to send what is left); --keep-acked moves
  acknowledged batches to <dir>/acked/ instead of deleting them (an audit trail). --rate-hz holds a control rate.
o2o robot sim --ros --task <task> [--profile ..] [--robot o2o_sim_robot] [--policy-node o2o_policy] [--episodes N] [--seed N]
  [--action-timeout-ms N] [--rate-hz N] [--ros-args --params-file ros/config/policy.yaml -p reward_topic:=/o2o/reward ...]
  --ros: the robot speaks ROS 2 topics to the policy node ('o2o serve --ros'), named by the node's own parameters
  (observation, action, reward_topic, done_topic, truncated_topic); the node's fleet link (fleet_mqtt_url) streams
  the transitions to the learner. --robot names the robot's ROS node; --policy-node the params file section to read.`;

export const ROBOT_SPECS: Record<string, CommandSpec> = {
  sim: {
    name: 'o2o robot sim',
    flags: {
      task: 'string',
      mqtt: 'string',
      profile: 'string',
      fleet: 'string',
      robot: 'string',
      episodes: 'int',
      seed: 'int',
      'action-timeout-ms': 'number',
      'rate-hz': 'number',
      spool: 'string',
      'spool-batch-rows': 'int',
      'drain-timeout-ms': 'number',
      'keep-acked': 'bool',
      ros: 'bool',
      'policy-node': 'string',
      ...MQTT_AUTH_FLAGS,
    },
    rawAfter: '--ros-args',
  },
};

export const EXPORT_USAGE = `o2o export --from <policy.onnx> --out <artifact.onnx> [--version <v>] [--sign <key file>] [--name N] [--task T] [--algorithm A]
  [--dataset ID] [--steps N] [--seed N] [--act-low a,b,..] [--act-high a,b,..] [--obs-names ..] [--act-names ..]
  [--interface <json | file>]   (a foreign ONNX that takes a context; default <policy.onnx>.card.json when present)`;

export const EXPORT_SPEC: CommandSpec = {
  name: 'o2o export',
  flags: {
    from: 'string',
    out: 'string',
    version: 'string',
    sign: 'string',
    name: 'string',
    task: 'string',
    algorithm: 'string',
    dataset: 'string',
    steps: 'int',
    seed: 'int',
    'act-low': 'numbers',
    'act-high': 'numbers',
    'obs-names': 'list',
    'act-names': 'list',
    interface: 'string',
  },
};

export const KEYGEN_USAGE = 'o2o keygen [--dir .] [--name o2o-signing]   writes <name>.key (private, keep it secret) and <name>.pub';

export const KEYGEN_SPEC: CommandSpec = { name: 'o2o keygen', flags: { dir: 'string', name: 'string' } };

/**
 * --target-return: R (every robot), robot=R (one robot), or both, comma-separated:
 * '3600', 'arm-1=1800,arm-2=3600', '3600,arm-1=1800'.
 */
function targetReturnFlag(a: Args): { all?: number; perRobot: Record<string, number> } {
  const perRobot: Record<string, number> = {};
  let all: number | undefined;
  for (const part of list(a, 'target-return') ?? []) {
    const [robot, value] = part.includes('=') ? (part.split('=', 2) as [string, string]) : [null, part];
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--target-return: '${part}' is not a number or robot=number (e.g. 3600 or arm-1=1800)`);
    if (robot === null) all = n;
    else perRobot[robot.trim()] = n;
  }
  return { all, perRobot };
}

export async function serveCommand(a: Args): Promise<void> {
  if (bool(a, 'ros')) {
    const { main } = await import('../../ros/main.js');
    await main(a.rest);
    // The node spins in the background and stops (exiting) on SIGINT/SIGTERM by itself; this
    // command stays until then.
    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
    return;
  }
  // Everything is checked before a broker starts or a policy loads.
  const mqttArg = str(a, 'mqtt');
  const policy = str(a, 'policy');
  const keyFiles = list(a, 'trusted-key') ?? [];
  const allowUnverified = bool(a, 'allow-unverified');
  if (keyFiles.length === 0 && !allowUnverified) {
    throw new UsageError(
      "refusing to serve without a trusted key: anyone who can publish to the policy topic could replace the policy. Pass --trusted-key <file.pub> (the public key 'o2o keygen' wrote, beside the private key that signs policies) or --allow-unverified (development only)",
    );
  }
  const publicKeys = keyFiles.map((f) => {
    try {
      return readFileSync(f, 'utf8');
    } catch (e) {
      throw new Error(`--trusted-key ${f}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); give the .pub file 'o2o keygen' wrote`);
    }
  });
  if (allowUnverified)
    console.log(
      'o2o serve: WARNING: --allow-unverified: unsigned policies and policy updates are accepted from anyone who can publish to the policy topic; use it for development only',
    );
  const exploring = bool(a, 'explore');
  const targets = targetReturnFlag(a);
  const description = descriptionFlag(a);
  const chunking = { ...chunkingFlags(a), seed: num(a, 'chunk-seed', 0) };
  const stop = onStopSignal();
  let embedded: Awaited<ReturnType<typeof startBroker>> | null = null;
  let server: Awaited<ReturnType<typeof serveMqtt>> | null = null;
  try {
    let { url, username, password } = mqttAuth(a, mqttArg);
    if (mqttArg === 'embedded') {
      embedded = await startBroker({ port: num(a, 'port', 1883) });
      url = embedded.url;
      username = password = undefined; // aedes takes anyone
      console.log(`o2o serve: embedded MQTT broker on ${url}`);
    }
    server = await serveMqtt({
      url,
      username,
      password,
      policy,
      fleet: optStr(a, 'fleet'),
      serverId: optStr(a, 'server-id'),
      trust: { publicKeys, allowUnverified },
      model: { executionProvider: (optStr(a, 'ep') ?? 'cpu') as 'cpu' },
      safety: {
        safeAction: (optStr(a, 'safe-action') ?? 'hold') as SafeActionMode,
        ...(a.flags.has('max-delta') ? { maxDelta: num(a, 'max-delta') } : {}),
        ...(a.flags.has('stale-ms') ? { staleAfterMs: num(a, 'stale-ms') } : {}),
      },
      maxRobots: optNum(a, 'max-robots'),
      robotIdleMs: optNum(a, 'robot-idle-ms'),
      watchFile: !bool(a, 'no-watch'),
      exploration: exploring ? { temperature: num(a, 'explore-temperature', 1), noiseStd: num(a, 'explore-noise', 0.1), seed: num(a, 'explore-seed', 0) } : null,
      targetReturn: targets.all,
      targetReturns: targets.perRobot,
      description,
      chunking,
      log: (l) => console.log(l),
    });
    console.log(`o2o serve: serving ${server.version} on ${redactUrl(server.url)} (Ctrl-C stops it)`);
    const s = await stop.stopped;
    console.log(`o2o serve: ${s}, stopping`);
  } finally {
    stop.dispose();
    await server?.close();
    await embedded?.close();
  }
}

export async function robotCommand(a: Args): Promise<void> {
  if (bool(a, 'ros')) return robotRosCommand(a);
  const { url, username, password } = mqttAuth(a, str(a, 'mqtt'));
  const task = str(a, 'task');
  const stop = onStopSignal();
  try {
    const run = runSimRobot({
      url,
      username,
      password,
      task,
      profile: optStr(a, 'profile'),
      fleet: optStr(a, 'fleet'),
      robot: optStr(a, 'robot'),
      episodes: num(a, 'episodes', 1),
      seed: num(a, 'seed', 0),
      actionTimeoutMs: num(a, 'action-timeout-ms', 1000),
      rateHz: optNum(a, 'rate-hz'),
      spoolDir: optStr(a, 'spool'),
      spoolBatchRows: optNum(a, 'spool-batch-rows'),
      drainTimeoutMs: optNum(a, 'drain-timeout-ms'),
      spoolKeepAcked: bool(a, 'keep-acked'),
      signal: stop.signal,
      log: (l) => console.log(l),
    });
    // a signal stops the robot at its next step; the spool keeps every unacknowledged transition
    const how = await Promise.race([run.then(() => null), stop.stopped]);
    const res = await run;
    if (how) {
      console.error(`o2o robot sim: ${how}, stopped before the episodes ended`);
      process.exitCode = how === 'SIGINT' ? 130 : 143;
      return;
    }
    const rt = res.roundTripMs.slice().sort();
    console.log(
      JSON.stringify({
        meanReturn: res.meanReturn,
        returns: res.returns,
        steps: res.steps,
        safeActions: res.safeActions,
        timeouts: res.timeouts,
        policyVersions: res.policyVersions,
        roundTripP50Ms: rt[rt.length >> 1] ?? null,
      }),
    );
  } finally {
    stop.dispose();
  }
}

async function robotRosCommand(a: Args): Promise<void> {
  for (const f of ['mqtt', 'spool', 'fleet', 'spool-batch-rows', 'drain-timeout-ms', 'keep-acked', 'username', 'password']) {
    if (a.flags.has(f))
      throw new UsageError(`--${f} is for the MQTT robot; with --ros the policy node's fleet link (fleet_mqtt_url, spool_dir in its params) talks to the learner`);
  }
  const task = str(a, 'task');
  const stop = onStopSignal();
  const controller = new AbortController();
  void stop.stopped.then(() => controller.abort());
  try {
    const { robotMain } = await import('../../ros/main.js');
    const res = await robotMain(a.rest, {
      task,
      profile: optStr(a, 'profile'),
      nodeName: optStr(a, 'robot'),
      policyNode: optStr(a, 'policy-node'),
      episodes: num(a, 'episodes', 1),
      seed: num(a, 'seed', 0),
      actionTimeoutMs: num(a, 'action-timeout-ms', 1000),
      rateHz: optNum(a, 'rate-hz'),
      signal: controller.signal,
      log: (l) => console.log(l),
    });
    if (controller.signal.aborted) {
      console.error('o2o robot sim: stopped before the episodes ended');
      process.exitCode = 130;
      return;
    }
    const rt = res.roundTripMs.slice().sort();
    console.log(
      JSON.stringify({
        meanReturn: res.meanReturn,
        returns: res.returns,
        steps: res.steps,
        timeouts: res.timeouts,
        roundTripP50Ms: rt[rt.length >> 1] ?? null,
        roundTripP99Ms: rt[Math.floor(0.99 * (rt.length - 1))] ?? null,
      }),
    );
  } finally {
    stop.dispose();
  }
}

export async function exportCommand(a: Args): Promise<void> {
  const out = str(a, 'out');
  const res = exportPolicyFile({
    from: str(a, 'from'),
    out,
    version: optStr(a, 'version'),
    name: optStr(a, 'name'),
    task: optStr(a, 'task'),
    algorithm: optStr(a, 'algorithm'),
    datasetId: optStr(a, 'dataset'),
    trainingSteps: optNum(a, 'steps'),
    seed: optNum(a, 'seed'),
    actLow: numbers(a, 'act-low'),
    actHigh: numbers(a, 'act-high'),
    obsNames: list(a, 'obs-names'),
    actNames: list(a, 'act-names'),
    signingKeyFile: optStr(a, 'sign'),
    description: descriptionFlag(a),
  });
  console.log(`wrote ${out} (sha256 ${res.sha256})${res.signature ? ` and ${out}.sig (key ${res.signature.keyId})` : ''}`);
}

export async function keygenCommand(a: Args): Promise<void> {
  const k = writeSigningKey(optStr(a, 'dir') ?? '.', optStr(a, 'name'));
  console.log(`wrote ${k.privateKeyFile} (keep it secret) and ${k.publicKeyFile}; key id ${k.keyId}`);
}
