/**
 * Serving a 'sequence' policy (a Decision Transformer's interface): PolicyRuntime keeps the
 * robot's context. The toy policy's action is a position-weighted function of every entry of the
 * window (sequence-fixtures.ts), so matching the plain model of the contract proves the window:
 * left padding, shifting past K, the return-to-go falling by the rewards, timesteps counted and
 * clipped, the mask, resets, and the executed action (after the safety filter) fed back.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ArtifactError, exportPolicyFile, generateSigningKey, PolicyRuntime, readArtifactFile, type RuntimeOptions, type StepInfo, verifyArtifact } from '../../src/serve/index.js';
import { exportRandom, extraBytesPerCall, randomActor, referenceAction, tempDir } from './fixtures.js';
import { ACT, ContractModel, exportToy, FOREIGN, foreignAction, foreignDescription, foreignDtBytes, MAX_T, relErr, TARGET, toyInterface } from './sequence-fixtures.js';

const open = (opts: RuntimeOptions = {}, iface = toyInterface()) => PolicyRuntime.open({ bytes: exportToy({ iface }).bytes, source: 'toy.onnx' }, opts);
const obsAt = (i: number): number[] => [0.1 * i, -0.2 + 0.05 * i, 1 + (i % 3)];

/**
 * Runs one step through the runtime and the contract model: returns |policy output − expected|
 * (relative; the policy's own output, before the safety filter) and feeds back what act() returned.
 */
function step(rt: PolicyRuntime, m: ContractModel, info: StepInfo, obs: number[]): number {
  m.begin(info.reward ?? 0, info.episodeStart ?? false);
  m.put(obs);
  const want = m.toyAction();
  const got = rt.act(obs, info);
  m.executed(got);
  return relErr(rt.model.action, want);
}

describe('PolicyRuntime serves a sequence policy with the robot context', () => {
  it('opens (no longer refused), says its interface, and starts each episode at the target return', () => {
    const rt = open();
    expect(rt.policyInterface).toEqual(toyInterface());
    expect(rt.status()).toMatchObject({ obsDim: 3, actDim: ACT, episodeStep: -1, returnToGo: null, targetReturn: TARGET });
    rt.dispose();
  });

  it('left padding, shifting past K, return-to-go falling by each reward, timesteps counted and clipped to max', () => {
    const rt = open();
    const m = new ContractModel();
    const info: StepInfo = { reward: 0, episodeStart: true };
    const rewards = [10, 25, -5, 40, 7, 3, 12, 9];
    for (let i = 0; i < rewards.length + 1; i++) {
      expect(step(rt, m, info, obsAt(i))).toBeLessThan(1e-5);
      info.episodeStart = false;
      info.reward = rewards[i] ?? 0;
    }
    // 9 steps: the window is full (K = 4), timesteps 5..8 are fed clipped to max 5
    expect(m.t).toBe(8);
    expect(m.window().map((x) => x.t)).toEqual([MAX_T, MAX_T, MAX_T, MAX_T]);
    expect(rt.status()).toMatchObject({ episodeStep: 8, returnToGo: TARGET - rewards.reduce((a, b) => a + b, 0) });
    // The first steps really were padded: at step 0 only the last position is real.
    const first = new ContractModel();
    first.begin(0, true);
    first.put(obsAt(0));
    expect(first.window().map((x) => x.mask)).toEqual([0, 0, 0, 1]);
    rt.dispose();
  });

  it('reset() and episodeStart start the context again (step 0, the target return, no past); the reward given with an episode start is ignored', () => {
    const rt = open();
    const m = new ContractModel();
    const info: StepInfo = { reward: 0, episodeStart: true };
    for (let i = 0; i < 6; i++) {
      expect(step(rt, m, info, obsAt(i))).toBeLessThan(1e-5);
      info.episodeStart = false;
      info.reward = 100;
    }
    rt.reset();
    m.begin(0, true);
    m.put(obsAt(20));
    const a = rt.act(obsAt(20), info); // reward 100 here belongs to the old episode
    expect(relErr(a, m.toyAction())).toBeLessThan(1e-5);
    m.executed(a);
    expect(a[2]).toBe(0 * 4); // timestep 0 at the last position, nothing before it
    expect(a[3]).toBe(0); // no past actions
    expect(rt.status()).toMatchObject({ episodeStep: 0, returnToGo: TARGET });
    for (let i = 21; i < 24; i++) expect(step(rt, m, info, obsAt(i))).toBeLessThan(1e-5);
    info.episodeStart = true;
    expect(step(rt, m, info, obsAt(30))).toBeLessThan(1e-5);
    expect(rt.status().episodeStep).toBe(0);
    rt.dispose();
  });

  it('the action fed back into the context is the one the safety filter let out (clipped, rate-limited)', () => {
    const rt = open({ safety: { low: [-1, -20, -20, -50], high: [1, 20, 20, 50], maxDelta: [0.5, 100, 3, 100] } });
    const m = new ContractModel();
    const info: StepInfo = { reward: 0, episodeStart: true };
    let changed = 0;
    for (let i = 0; i < 10; i++) {
      // The policy's output matches the contract at every step only if the filtered actions were fed back.
      expect(step(rt, m, info, obsAt(i))).toBeLessThan(1e-5);
      if (relErr(rt.action, rt.model.action) > 1e-3) changed++;
      info.episodeStart = false;
      info.reward = 50;
    }
    expect(changed).toBeGreaterThan(2); // the filter did change the actions that went out (and back in)
    expect(rt.status().faults.rateLimited).toBeGreaterThan(0);
    expect(rt.status().faults.clipped).toBeGreaterThan(0);
    rt.dispose();
  });

  it('a refused observation still counts as a step (reward, timestep) but adds no position; a repeat re-evaluates the current step', () => {
    const rt = open({ safety: { safeAction: 'zero' } });
    const m = new ContractModel();
    const info: StepInfo = { reward: 0, episodeStart: true };
    expect(step(rt, m, info, obsAt(0))).toBeLessThan(1e-5);
    info.episodeStart = false;
    info.reward = 30;
    m.begin(30, false); // step 1: NaN observation
    expect(Array.from(rt.act([Number.NaN, 0, 0], info))).toEqual([0, 0, 0, 0]);
    expect(rt.status().faults.nonFiniteObs).toBe(1);
    info.reward = 20;
    expect(step(rt, m, info, obsAt(2))).toBeLessThan(1e-5); // step 2, at timestep 2, beside step 0
    expect(m.window().map((x) => x.t)).toEqual([0, 0, 0, 2]);
    expect(rt.status()).toMatchObject({ episodeStep: 2, returnToGo: TARGET - 50 });
    // A repeat (a control timer acting again, no new observation): same step, new observation values.
    info.repeat = true;
    m.steps.pop();
    m.put(obsAt(3));
    const again = rt.act(obsAt(3), info);
    expect(relErr(again, m.toyAction())).toBeLessThan(1e-5);
    m.executed(again);
    expect(rt.status().episodeStep).toBe(2);
    info.repeat = false;
    info.reward = 1;
    expect(step(rt, m, info, obsAt(4))).toBeLessThan(1e-5);
    rt.dispose();
  });

  it('steps: a step count for steps act() did not see (a control timer slower than the robot); with an episode start, steps since it', () => {
    const rt = open();
    const m = new ContractModel();
    const info: StepInfo = { reward: 0, episodeStart: true, steps: 2 };
    m.begin(0, true);
    m.begin(8, false, 2);
    info.reward = 8;
    m.put(obsAt(0));
    expect(relErr(rt.act(obsAt(0), info), m.toyAction())).toBeLessThan(1e-5); // an episode seen from its step 2
    m.executed(rt.action);
    expect(rt.status()).toMatchObject({ episodeStep: 2, returnToGo: TARGET - 8 });
    info.episodeStart = false;
    info.steps = 3;
    info.reward = 30;
    m.begin(30, false, 3);
    m.put(obsAt(1));
    expect(relErr(rt.act(obsAt(1), info), m.toyAction())).toBeLessThan(1e-5);
    expect(m.window().map((x) => x.t)).toEqual([0, 0, 2, 5]);
    expect(rt.status()).toMatchObject({ episodeStep: 5, returnToGo: TARGET - 38 });
    rt.dispose();
  });

  it('the target return: the card default, RuntimeOptions.targetReturn, setTargetReturn (from the next episode), null = the card again', () => {
    const rt = open({ targetReturn: 1000 });
    const m = new ContractModel(1000);
    const info: StepInfo = { reward: 0, episodeStart: true };
    expect(step(rt, m, info, obsAt(0))).toBeLessThan(1e-5);
    expect(rt.status().targetReturn).toBe(1000);
    rt.setTargetReturn(500);
    info.episodeStart = false;
    info.reward = 10;
    expect(step(rt, m, info, obsAt(1))).toBeLessThan(1e-5); // this episode keeps its target
    info.episodeStart = true;
    m.target = 500;
    expect(step(rt, m, info, obsAt(2))).toBeLessThan(1e-5);
    expect(rt.status().returnToGo).toBe(500);
    rt.setTargetReturn(null);
    rt.reset();
    m.target = TARGET;
    info.episodeStart = false;
    m.begin(0, true);
    m.put(obsAt(3));
    expect(relErr(rt.act(obsAt(3), info), m.toyAction())).toBeLessThan(1e-5);
    expect(() => rt.setTargetReturn(Number.NaN)).toThrow(/finite number/);
    rt.dispose();
  });

  it('a returns-to-go input without a default needs a target return, said at open', () => {
    const iface = toyInterface({ 'returns-to-go': { default: undefined } });
    expect(() => open({}, iface)).toThrow(ArtifactError);
    expect(() => open({}, iface)).toThrow(
      /returns-to-go input 'returns_to_go' has no default \(the target return\) and none was given; pass one \(o2o serve\/eval --target-return/,
    );
    const rt = open({ targetReturn: 42 }, iface);
    expect(rt.status().targetReturn).toBe(42);
    expect(() => rt.setTargetReturn(null)).toThrow(/no default, so a target return is needed/);
    rt.dispose();
  });

  it('act() allocates nothing beyond the raw ORT run (window shifted in place, int64 timesteps written through a view)', () => {
    const rt = open({ safety: { maxDelta: 0.05, staleAfterMs: 1000 } });
    const m = rt.model;
    const obs = new Float32Array(3);
    const info: StepInfo = { reward: 1, episodeStart: false, now: 0, obsTime: 0 };
    const extra = extraBytesPerCall(
      () => m.infer(),
      (i) => {
        obs[0] = i * 1e-4;
        info.episodeStart = i % 50 === 0;
        rt.act(obs, info);
      },
    );
    expect(extra).toBeLessThan(100);
    rt.dispose();
  });
});

describe('hot swap between a sequence policy and an mlp policy', () => {
  const key = generateSigningKey();
  const trust = { publicKeys: [key.publicKeyPem] };

  it('mlp → sequence: the context starts at step 0; sequence → mlp: the mlp acts exactly as before; either way the old one keeps serving on a refusal', () => {
    const mlp = exportRandom({ spec: { obsDim: 3, actDim: ACT }, signingKey: key.privateKeyPem });
    const seq = exportToy({ signingKey: key.privateKeyPem });
    const rt = PolicyRuntime.open({ bytes: mlp.bytes, source: 'mlp', signature: mlp.signature }, { trust });
    const info: StepInfo = { reward: 5, episodeStart: false };
    const actor = randomActor({ obsDim: 3, actDim: ACT });
    for (let i = 0; i < 3; i++) expect(relErr(rt.act(obsAt(i), info), referenceAction(actor, obsAt(i)))).toBeLessThan(1e-5);
    // an unsigned sequence policy is refused: the mlp keeps serving
    expect(rt.swap({ bytes: seq.bytes, source: 'unsigned' }).ok).toBe(false);
    expect(relErr(rt.act(obsAt(3), info), referenceAction(actor, obsAt(3)))).toBeLessThan(1e-5);
    expect(rt.swap({ bytes: seq.bytes, source: 'seq', signature: seq.signature })).toMatchObject({ ok: true, version: 'seq-v1' });
    expect(rt.policyInterface.kind).toBe('sequence');
    const m = new ContractModel();
    m.begin(0, true); // mid-episode for the robot, but a new context for the new policy
    m.put(obsAt(4));
    const a = rt.act(obsAt(4), info);
    expect(relErr(rt.model.action, m.toyAction())).toBeLessThan(1e-5);
    expect(rt.status()).toMatchObject({ episodeStep: 0, returnToGo: TARGET });
    m.executed(a); // (the filter keeps the first policy's bounds: a swap cannot change the robot's spaces)
    for (let i = 5; i < 8; i++) expect(step(rt, m, info, obsAt(i))).toBeLessThan(1e-5);
    expect(rt.swap({ bytes: mlp.bytes, source: 'mlp', signature: mlp.signature }).ok).toBe(true);
    expect(rt.status()).toMatchObject({ episodeStep: null, returnToGo: null, targetReturn: null });
    for (let i = 8; i < 11; i++) expect(relErr(rt.act(obsAt(i), info), referenceAction(actor, obsAt(i)))).toBeLessThan(1e-5);
    expect(relErr(rt.act(obsAt(11)), referenceAction(actor, obsAt(11)))).toBeLessThan(1e-5); // the positional signature too
    rt.dispose();
  });

  it('sequence → sequence: the same interface keeps the episode (a policy update mid-episode); another interface starts the context again', () => {
    const v1 = exportToy({ version: 'seq-v1' });
    const v2 = exportToy({ version: 'seq-v2' });
    const other = exportToy({ version: 'seq-k6', iface: toyInterface({}, 6) });
    const rt = PolicyRuntime.open({ bytes: v1.bytes, source: 'v1' });
    const m = new ContractModel();
    const info: StepInfo = { reward: 0, episodeStart: true };
    for (let i = 0; i < 6; i++) {
      expect(step(rt, m, info, obsAt(i))).toBeLessThan(1e-5);
      info.episodeStart = false;
      info.reward = 11;
    }
    expect(rt.swap({ bytes: v2.bytes, source: 'v2' }).ok).toBe(true);
    for (let i = 6; i < 9; i++) expect(step(rt, m, info, obsAt(i))).toBeLessThan(1e-5); // the same episode goes on
    expect(rt.status()).toMatchObject({ version: 'seq-v2', episodeStep: 8 });
    expect(rt.swap({ bytes: other.bytes, source: 'k6' }).ok).toBe(true);
    const m6 = new ContractModel(TARGET, 6);
    m6.begin(0, true);
    m6.put(obsAt(9));
    const a = rt.act(obsAt(9), info);
    expect(a[2]).toBe(0); // timestep 0
    expect(a[3]).toBe(0); // no past
    expect(relErr(a, m6.toyAction())).toBeLessThan(1e-5);
    rt.dispose();
  });
});

describe('foreign ONNX with a context input (a PyTorch-shaped Decision Transformer)', () => {
  it('is served once its interface is described (on the command line or in <model>.card.json beside it)', () => {
    const bytes = foreignDtBytes();
    const description = foreignDescription();
    const rt = PolicyRuntime.open({ bytes, source: 'dt.onnx', description }, { trust: { allowUnverified: true } });
    expect([rt.obsDim, rt.actDim, rt.model.inputName, rt.model.outputName]).toEqual([FOREIGN.obs, FOREIGN.act, 'states', 'action_preds']);
    const m = new ContractModel(1800, FOREIGN.K, 999, { obs: FOREIGN.obs, act: FOREIGN.act, scale: 0.001 });
    const info: StepInfo = { reward: 0, episodeStart: true };
    for (let i = 0; i < 8; i++) {
      m.begin(info.reward ?? 0, info.episodeStart ?? false);
      m.put(obsAt(i));
      const a = rt.act(obsAt(i), info);
      expect(relErr(a, foreignAction(m.window()))).toBeLessThan(1e-5);
      m.executed(a);
      info.episodeStart = false;
      info.reward = 120;
    }
    rt.dispose();

    // The same description in <model>.card.json, the file vouched for by <model>.sha256.
    const dir = tempDir();
    const file = join(dir, 'dt.onnx');
    writeFileSync(file, bytes);
    writeFileSync(`${file}.card.json`, JSON.stringify(foreignDescription(2400)));
    expect(() => PolicyRuntime.open(readArtifactFile(file))).toThrow(/cannot be verified/);
    const fromFile = PolicyRuntime.open(readArtifactFile(file), { trust: { allowUnverified: true }, targetReturn: 2000 });
    expect(fromFile.policyInterface.kind).toBe('sequence');
    expect(fromFile.status().targetReturn).toBe(2000);
    fromFile.dispose();
    // Without a description it is what it looks like: a graph with five inputs, which no mlp reading can serve.
    expect(() => PolicyRuntime.open({ bytes, source: 'dt.onnx' }, { trust: { allowUnverified: true } })).toThrow(/has 5 inputs/);
  });

  it("sealed by 'o2o export' (the description from <model>.card.json goes into the card), it is signed and served like our own artifacts", () => {
    const dir = tempDir();
    const file = join(dir, 'dt.onnx');
    writeFileSync(file, foreignDtBytes());
    writeFileSync(`${file}.card.json`, JSON.stringify(foreignDescription(2400)));
    const key = generateSigningKey();
    writeFileSync(join(dir, 'k.key'), key.privateKeyPem);
    const out = join(dir, 'sealed.onnx');
    const res = exportPolicyFile({ from: file, out, version: 'dt-1', task: 'pendulum', signingKeyFile: join(dir, 'k.key') });
    expect(res.card).toMatchObject({ inputName: 'states', outputName: 'action_preds', interface: foreignDescription(2400).interface, observation: { dim: 3 }, action: { dim: 1 } });
    const sealed = PolicyRuntime.open(readArtifactFile(out), { trust: { publicKeys: [key.publicKeyPem] } });
    const plain = PolicyRuntime.open({ bytes: foreignDtBytes(), source: 'dt', description: foreignDescription(2400) }, { trust: { allowUnverified: true } });
    expect(sealed.status()).toMatchObject({ verifiedBy: 'signature', targetReturn: 2400 });
    const info: StepInfo = { reward: 0, episodeStart: true };
    for (let i = 0; i < 7; i++) {
      const a = Array.from(sealed.act(obsAt(i), info));
      expect(Array.from(plain.act(obsAt(i), info))).toEqual(a);
      info.episodeStart = false;
      info.reward = 40;
    }
    sealed.dispose();
    plain.dispose();
  });

  it('descriptions that do not fit are refused saying why; an artifact with a card takes none', () => {
    const bytes = foreignDtBytes();
    const d = foreignDescription();
    const openWith = (description: typeof d) => PolicyRuntime.open({ bytes, source: 'dt.onnx', description }, { trust: { allowUnverified: true } });
    const withInputs = (f: (x: (typeof d.interface.extraInputs)[number]) => (typeof d.interface.extraInputs)[number]) => ({
      ...d,
      interface: { ...d.interface, extraInputs: d.interface.extraInputs.map(f) },
    });
    expect(() => openWith(withInputs((x) => (x.role === 'mask' ? { ...x, name: 'mask' } : x)))).toThrow(/names input\(s\) mask, which the graph does not have/);
    expect(() => openWith({ ...d, interface: { ...d.interface, extraInputs: d.interface.extraInputs.filter((x) => x.role !== 'mask') } })).toThrow(
      /attention_mask are neither the observation nor in the interface/,
    );
    expect(() => openWith(withInputs((x) => (x.role === 'timesteps' ? { ...x, dtype: 'float32' } : x)))).toThrow(/'timesteps' has ORT type 7, the interface says float32/);
    expect(() => openWith(withInputs((x) => (x.role === 'returns-to-go' ? { ...x, shape: [FOREIGN.K] } : x)))).toThrow(
      /input 'returns_to_go' has shape \[-1,5,1\], the interface says \[batch, 5\]/,
    );
    expect(() => openWith({ ...d, interface: { ...d.interface, contextLength: 4 } })).toThrow(/input 'states' has type 1 shape \[-1,5,3\]; a sequence policy with context 4 needs/);
    expect(() => openWith(withInputs((x) => (x.role === 'actions' ? { ...x, shape: [FOREIGN.K, 3] } : x)))).toThrow(
      /gives 'actions' \(actions\) the shape \[5,3\]; with context 5 it must be \[5,1\]/,
    );
    const card = exportToy();
    expect(() => verifyArtifact({ bytes: card.bytes, source: 'toy.onnx', description: { ...d, source: 'toy.onnx.card.json' } })).toThrow(
      /carries its own card \(a 'sequence' policy\); the description from toy.onnx.card.json is for foreign files without one/,
    );
  });
});
