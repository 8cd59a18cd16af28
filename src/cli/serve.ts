/**
 * `o2o serve`, `o2o robot sim`, `o2o export`, `o2o keygen`: argument parsing only; the work is in
 * src/serve (serveMqtt, runSimRobot, exportPolicyFile, writeSigningKey) and ros/main.ts.
 */
import { readFileSync } from 'node:fs';
import { exportPolicyFile, runSimRobot, type SafeActionMode, serveMqtt, writeSigningKey } from '../serve/index.js';
import { startBroker } from '../transport/index.js';
import { type Args, UsageError, bool, num, optStr, str } from './args.js';

export const SERVE_USAGE = `o2o serve --mqtt <mqtt://host:port | embedded> --policy <file.onnx> [--fleet default] [--server-id policy-server]
  [--trusted-key key.pub ...] [--allow-unverified] [--ep cpu|cuda|webgpu]
  [--safe-action zero|hold] [--max-delta X] [--stale-ms N] [--no-watch]
  [--explore [--explore-temperature 1] [--explore-noise 0.1] [--explore-seed 0]]   (sample actions: online data collection)
o2o serve --ros [--ros-args --params-file ros/config/policy.yaml]   (needs ROS 2 sourced and 'cd ros && npm install')`;

export const ROBOT_USAGE = `o2o robot sim --task <pendulum|hopper|...> --mqtt <url> [--profile nominal|mild|harsh] [--fleet default] [--robot sim-0]
  [--episodes N] [--seed N] [--action-timeout-ms N]`;

export const EXPORT_USAGE = `o2o export --from <policy.onnx> --out <artifact.onnx> --version <v> [--sign <key file>] [--name N] [--task T] [--algorithm A]
  [--dataset ID] [--steps N] [--seed N] [--act-low a,b,..] [--act-high a,b,..] [--obs-names ..] [--act-names ..]
o2o keygen [--dir .] [--name o2o-signing]`;

const list = (a: Args, name: string): number[] | undefined => {
  const v = optStr(a, name);
  if (v === undefined) return undefined;
  const xs = v.split(',').map(Number);
  if (xs.some((x) => !Number.isFinite(x))) throw new UsageError(`--${name} must be comma-separated numbers, got '${v}'`);
  return xs;
};

export async function serveCommand(a: Args): Promise<void> {
  if (bool(a, 'ros')) {
    const { main } = await import('../../ros/main.js');
    const i = process.argv.indexOf('--ros-args');
    await main(i >= 0 ? process.argv.slice(i) : []);
    return;
  }
  let url = str(a, 'mqtt');
  let embedded: Awaited<ReturnType<typeof startBroker>> | null = null;
  if (url === 'embedded') {
    embedded = await startBroker({ port: num(a, 'port', 1883) });
    url = embedded.url;
    console.log(`o2o serve: embedded MQTT broker on ${url}`);
  }
  const keys = optStr(a, 'trusted-key');
  const safeAction = (optStr(a, 'safe-action') ?? 'hold') as SafeActionMode;
  const server = await serveMqtt({
    url,
    policy: str(a, 'policy'),
    fleet: optStr(a, 'fleet'),
    serverId: optStr(a, 'server-id'),
    trust: { publicKeys: keys ? keys.split(',').map((f) => readFileSync(f, 'utf8')) : [], allowUnverified: bool(a, 'allow-unverified') },
    model: { executionProvider: (optStr(a, 'ep') ?? 'cpu') as 'cpu' },
    safety: {
      safeAction,
      ...(a.flags.has('max-delta') ? { maxDelta: num(a, 'max-delta') } : {}),
      ...(a.flags.has('stale-ms') ? { staleAfterMs: num(a, 'stale-ms') } : {}),
    },
    watchFile: !bool(a, 'no-watch'),
    exploration: bool(a, 'explore') ? { temperature: num(a, 'explore-temperature', 1), noiseStd: num(a, 'explore-noise', 0.1), seed: num(a, 'explore-seed', 0) } : null,
  });
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await server.close();
  await embedded?.close();
}

export async function robotCommand(a: Args): Promise<void> {
  if (a.positionals[1] !== 'sim') throw new UsageError(`'o2o robot' has one subcommand: sim`);
  const res = await runSimRobot({
    url: str(a, 'mqtt'),
    task: str(a, 'task'),
    profile: optStr(a, 'profile'),
    fleet: optStr(a, 'fleet'),
    robot: optStr(a, 'robot'),
    episodes: num(a, 'episodes', 1),
    seed: num(a, 'seed', 0),
    actionTimeoutMs: num(a, 'action-timeout-ms', 1000),
    log: (l) => console.log(l),
  });
  const rt = res.roundTripMs.slice().sort();
  console.log(
    JSON.stringify({ meanReturn: res.meanReturn, returns: res.returns, steps: res.steps, safeActions: res.safeActions, timeouts: res.timeouts, policyVersions: res.policyVersions, roundTripP50Ms: rt[rt.length >> 1] ?? null }),
  );
}

export async function exportCommand(a: Args): Promise<void> {
  const names = (n: string) => optStr(a, n)?.split(',');
  const res = exportPolicyFile({
    from: str(a, 'from'),
    out: str(a, 'out'),
    version: optStr(a, 'version'),
    name: optStr(a, 'name'),
    task: optStr(a, 'task'),
    algorithm: optStr(a, 'algorithm'),
    datasetId: optStr(a, 'dataset'),
    trainingSteps: a.flags.has('steps') ? num(a, 'steps') : undefined,
    seed: a.flags.has('seed') ? num(a, 'seed') : undefined,
    actLow: list(a, 'act-low'),
    actHigh: list(a, 'act-high'),
    obsNames: names('obs-names'),
    actNames: names('act-names'),
    signingKeyFile: optStr(a, 'sign'),
  });
  console.log(`wrote ${str(a, 'out')} (sha256 ${res.sha256})${res.signature ? ` and ${str(a, 'out')}.sig (key ${res.signature.keyId})` : ''}`);
}

export async function keygenCommand(a: Args): Promise<void> {
  const k = writeSigningKey(optStr(a, 'dir') ?? '.', optStr(a, 'name'));
  console.log(`wrote ${k.privateKeyFile} (keep it secret) and ${k.publicKeyFile}; key id ${k.keyId}`);
}
