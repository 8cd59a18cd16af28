/**
 * Policy artifacts: ONNX bytes whose metadata_props carry the policy card and an integrity hash,
 * plus an optional ed25519 signature in a sidecar file (`<file>.sig`, JSON).
 *
 *  - `o2o.card`   the card as JSON (spaces and names, algorithm, dataset id, training steps, version,
 *                 evaluation, the policy's interface); a few fields are repeated as flat `o2o.*`
 *                 keys for ONNX tools.
 *  - `o2o.sha256` sha256 (hex) of the file's bytes with this one entry left out, so the hash lives
 *                 inside the file it covers; any change elsewhere in the file breaks it.
 *  - `<file>.sig` ed25519 over the whole file, made with node:crypto; `keyId` names the key.
 *  - `<file>.sha256` (optional, `sha256sum` format) vouches for foreign files that carry no hash.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign as cryptoSign, verify as cryptoVerify } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { MLP_INTERFACE, type PolicyInterface } from '../nn/index.js';
import { appendMetadata, ArtifactError, outlineOnnx, type OnnxOutline } from './onnx-meta.js';

export { ArtifactError };

export interface PolicyEvaluation {
  task: string;
  profile: string;
  episodes: number;
  /** Reset seeds seed, seed+1, ... */
  seed: number;
  meanReturn: number;
  stdReturn: number;
  measuredAt: string;
  machine: string;
}

export interface PolicyCard {
  format: 'o2o-policy-card/1';
  name: string;
  version: string;
  task: string;
  algorithm: string;
  datasetId: string;
  trainingSteps: number;
  seed: number | null;
  observation: { dim: number; names: string[] };
  /** The graph's output is in these units; [low, high] are the actuator bounds. */
  action: { dim: number; names: string[]; low: number[]; high: number[] };
  /** The observation input (the first input) and the action output. */
  inputName: string;
  outputName: string;
  /**
   * How the policy is called: kind (mlp | sequence | chunked), context and chunk length, extra
   * inputs with their defaults. Absent in cards written before it existed: those are 'mlp'
   * (read it with policyInterfaceOf).
   */
  interface?: PolicyInterface;
  evaluation: PolicyEvaluation | null;
  createdAt: string;
  notes: string;
  /**
   * Outputs of the policy's action distribution, for exploration while collecting online data
   * (absent: a deterministic policy, which explores with added noise).
   */
  distribution?: PolicyDistribution;
}

/** A card's policy interface; cards without one (older artifacts, foreign files: null) are 'mlp'. */
export function policyInterfaceOf(card: PolicyCard | null): PolicyInterface {
  return card?.interface ?? MLP_INTERFACE;
}

/**
 * How to call a foreign ONNX policy that carries no card (a Decision Transformer exported by
 * PyTorch, say): its interface and the names of its observation input and action output. It
 * comes from `<model>.card.json` beside the file (readArtifactFile) or from the command line
 * (`o2o serve --interface`). Our own artifacts carry a card, which a description may not replace.
 */
export interface PolicyDescription {
  interface: PolicyInterface;
  /** The observation input; default: the graph's one input the interface does not name. */
  inputName?: string;
  /** The action output; default: the graph's first float output. */
  outputName?: string;
  /** Where the description came from, for messages. */
  source?: string;
}

/** The interface a verified artifact is served with: its card's, else its description's, else 'mlp'. */
export function artifactInterface(a: { card: PolicyCard | null; description?: PolicyDescription | null }): PolicyInterface {
  return a.card?.interface ?? a.description?.interface ?? MLP_INTERFACE;
}

const KINDS = ['mlp', 'sequence', 'chunked'];
const ROLES = ['returns-to-go', 'actions', 'timesteps', 'mask', 'noise'];
const posInt = (v: unknown): boolean => Number.isInteger(v) && (v as number) >= 1;

/** What is wrong with a policy interface, or null when it is well formed. */
export function interfaceProblem(i: PolicyInterface): string | null {
  if (!i || typeof i !== 'object') return 'it is not an object';
  if (!KINDS.includes(i.kind)) return `kind '${String(i.kind)}' is not one this version of o2o knows (${KINDS.join(', ')}); upgrade o2o to serve it`;
  if (!posInt(i.contextLength) || !posInt(i.chunkLength)) return `contextLength ${String(i.contextLength)} and chunkLength ${String(i.chunkLength)} must be integers ≥ 1`;
  if (!Array.isArray(i.extraInputs)) return 'extraInputs is not a list';
  if (i.kind === 'mlp' && (i.contextLength !== 1 || i.chunkLength !== 1 || i.extraInputs.length > 0))
    return `an 'mlp' policy has context 1, chunk 1 and no extra inputs (got ${i.contextLength}, ${i.chunkLength}, ${i.extraInputs.length})`;
  if (i.kind === 'sequence' && i.chunkLength !== 1) return `a 'sequence' policy returns one action per call (chunkLength 1, got ${i.chunkLength})`;
  if (i.actionHorizon !== undefined && (i.kind !== 'chunked' || !posInt(i.actionHorizon) || i.actionHorizon > i.chunkLength))
    return `actionHorizon ${String(i.actionHorizon)}: only a 'chunked' policy has one, an integer from 1 to chunkLength (${i.chunkLength})`;
  if (i.kind === 'chunked' && Array.isArray(i.extraInputs) && (i.extraInputs.length > 1 || i.extraInputs.some((x) => x?.role !== 'noise')))
    return `a 'chunked' policy takes its observations and at most one extra input, of role 'noise' (got ${i.extraInputs.map((x) => x?.role).join(', ')})`;
  const seen = new Set<string>();
  for (const x of i.extraInputs) {
    const ok =
      x &&
      typeof x.name === 'string' &&
      ROLES.includes(x.role) &&
      Array.isArray(x.shape) &&
      x.shape.every(posInt) &&
      (x.dtype === 'float32' || x.dtype === 'int64') &&
      (x.default === undefined || (typeof x.default === 'number' && Number.isFinite(x.default))) &&
      (x.scale === undefined || (typeof x.scale === 'number' && x.scale > 0)) &&
      (x.max === undefined || (Number.isInteger(x.max) && x.max >= 0));
    if (!ok) return `extra input ${JSON.stringify(x)} is not { name, role: ${ROLES.join(' | ')}, shape, dtype: float32 | int64, default?, scale? > 0, max? ≥ 0 }`;
    if (seen.has(x.name)) return `two extra inputs are named '${x.name}'`;
    seen.add(x.name);
    if (x.role !== 'noise' && i.extraInputs.filter((y) => y.role === x.role).length > 1) return `more than one extra input has the role '${x.role}'`;
  }
  return null;
}

/** Checks a description (from a card file or the command line); throws ArtifactError saying what is wrong. */
export function checkDescription(d: unknown, where: string): PolicyDescription {
  const o = d as PolicyDescription;
  if (!o || typeof o !== 'object' || Array.isArray(o)) throw new ArtifactError(`${where}: a policy description is a JSON object { interface, inputName?, outputName? }`);
  const problem = interfaceProblem(o.interface);
  if (problem) throw new ArtifactError(`${where}: the interface is not valid: ${problem}`);
  for (const k of ['inputName', 'outputName'] as const) {
    if (o[k] !== undefined && typeof o[k] !== 'string') throw new ArtifactError(`${where}: ${k} must be a string (the graph's input/output name)`);
  }
  const known = ['interface', 'inputName', 'outputName', 'source'];
  const extra = Object.keys(o).filter((k) => !known.includes(k));
  if (extra.length) throw new ArtifactError(`${where}: unknown field(s) ${extra.join(', ')} (a description has ${known.slice(0, 3).join(', ')})`);
  return { ...o, source: where };
}

/** tanh-gaussian: a = scale · tanh(loc + exp(logStd) ε); gaussian: a = loc + exp(logStd) ε. */
export interface PolicyDistribution {
  kind: 'tanh-gaussian' | 'gaussian';
  loc: string;
  logStd: string;
  scale: number;
}

export interface SignatureSidecar {
  format: 'o2o-signature/1';
  algorithm: 'ed25519';
  keyId: string;
  /** sha256 (hex) of the whole signed file. */
  sha256: string;
  /** base64 ed25519 signature over the whole file. */
  signature: string;
}

export const CARD_KEY = 'o2o.card';
export const SHA_KEY = 'o2o.sha256';

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** sha256 of the file's bytes with every `o2o.sha256` entry left out. */
export function contentSha256(bytes: Uint8Array, outline: OnnxOutline): string {
  const h = createHash('sha256');
  let at = 0;
  for (const m of outline.metadata) {
    if (m.key !== SHA_KEY) continue;
    h.update(bytes.subarray(at, m.start));
    at = m.end;
  }
  h.update(bytes.subarray(at));
  return h.digest('hex');
}

function flatKeys(card: PolicyCard): Record<string, string> {
  return {
    [CARD_KEY]: JSON.stringify(card),
    'o2o.version': card.version,
    'o2o.algorithm': card.algorithm,
    'o2o.task': card.task,
    'o2o.dataset_id': card.datasetId,
    'o2o.training_steps': String(card.trainingSteps),
    'o2o.obs_dim': String(card.observation.dim),
    'o2o.act_dim': String(card.action.dim),
    'o2o.obs_names': card.observation.names.join(','),
    'o2o.act_names': card.action.names.join(','),
  };
}

/**
 * Adds the card and the integrity hash to serialized ONNX bytes (ours or foreign): returns the
 * artifact bytes and their `o2o.sha256`.
 */
export function sealArtifact(onnx: Uint8Array, card: PolicyCard): { bytes: Uint8Array; sha256: string } {
  const outline = outlineOnnx(onnx, `policy '${card.name}'`);
  if (outline.metadata.some((m) => m.key === CARD_KEY || m.key === SHA_KEY)) {
    throw new ArtifactError(`policy '${card.name}': the model is already an o2o artifact; seal the original export, not an artifact`);
  }
  // Other o2o.* keys (written by older exporters) are dropped: the card replaces them.
  const keep = stripKeys(onnx, outline, (k) => k.startsWith('o2o.'));
  const withCard = appendMetadata(keep, flatKeys(card));
  const sha = sha256Hex(withCard);
  return { bytes: appendMetadata(withCard, { [SHA_KEY]: sha }), sha256: sha };
}

/**
 * A verified artifact with a changed card (e.g. a release version): the graph is not touched, the
 * card and hash are replaced. The caller verifies `bytes` first.
 */
export function resealArtifact(bytes: Uint8Array, card: PolicyCard): { bytes: Uint8Array; sha256: string } {
  const outline = outlineOnnx(bytes, `policy '${card.name}'`);
  return sealArtifact(
    stripKeys(bytes, outline, (k) => k === CARD_KEY || k === SHA_KEY || k.startsWith('o2o.')),
    card,
  );
}

function stripKeys(bytes: Uint8Array, outline: OnnxOutline, drop: (key: string) => boolean): Uint8Array {
  const parts: Uint8Array[] = [];
  let at = 0;
  for (const m of outline.metadata) {
    if (!drop(m.key)) continue;
    parts.push(bytes.subarray(at, m.start));
    at = m.end;
  }
  if (!parts.length) return bytes;
  parts.push(bytes.subarray(at));
  return Uint8Array.from(Buffer.concat(parts));
}

/** metadata_props of any ONNX file, as a plain record. */
export function readMetadata(bytes: Uint8Array, where = 'policy'): Record<string, string> {
  return Object.fromEntries(outlineOnnx(bytes, where).metadata.map((m) => [m.key, m.value]));
}

/** A fresh ed25519 key pair (PEM) and its key id. */
export function generateSigningKey(): { privateKeyPem: string; publicKeyPem: string; keyId: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    keyId: keyIdOf(publicKey),
  };
}

/** First 16 hex digits of sha256 over the public key's SPKI DER. */
export function keyIdOf(publicKey: KeyObject | string): string {
  const k = typeof publicKey === 'string' ? createPublicKey(publicKey) : publicKey;
  return sha256Hex(k.export({ type: 'spki', format: 'der' })).slice(0, 16);
}

function asPrivateKey(k: KeyObject | string): KeyObject {
  const key = typeof k === 'string' ? createPrivateKey(k) : k;
  if (key.asymmetricKeyType !== 'ed25519') throw new ArtifactError(`signing key is ${key.asymmetricKeyType}, expected ed25519; make one with generateSigningKey()`);
  return key;
}

export function signArtifact(bytes: Uint8Array, privateKey: KeyObject | string): SignatureSidecar {
  const key = asPrivateKey(privateKey);
  return {
    format: 'o2o-signature/1',
    algorithm: 'ed25519',
    keyId: keyIdOf(createPublicKey(key)),
    sha256: sha256Hex(bytes),
    signature: cryptoSign(null, bytes, key).toString('base64'),
  };
}

export interface TrustPolicy {
  /** ed25519 public keys (PEM or KeyObject). When any is given, a valid signature by one of them is required. */
  publicKeys?: (KeyObject | string)[];
  /** Accept files that carry neither a signature nor a hash (foreign exports without a `.sha256`). */
  allowUnverified?: boolean;
}

export interface ArtifactInput {
  bytes: Uint8Array;
  /** Where it came from (file path, topic), for messages. */
  source: string;
  signature?: SignatureSidecar | null;
  /** Expected sha256 of the whole file (from a `.sha256` sidecar or a PolicyUpdate). */
  sha256?: string | null;
  /** How to call it, when it is a foreign file without a card (`<file>.card.json`, `o2o serve --interface`). */
  description?: PolicyDescription | null;
}

export interface VerifiedArtifact {
  bytes: Uint8Array;
  source: string;
  card: PolicyCard | null;
  /** sha256 of the whole file. */
  sha256: string;
  verifiedBy: 'signature' | 'sha256' | 'none';
  keyId: string | null;
  /** card.version, else the first 12 hex digits of the file hash. */
  version: string;
  /** The description a card-less file is served with (null: none, or the file has a card). */
  description: PolicyDescription | null;
}

function parseCard(text: string, where: string): PolicyCard {
  let c: PolicyCard;
  try {
    c = JSON.parse(text) as PolicyCard;
  } catch (e) {
    throw new ArtifactError(`${where}: metadata '${CARD_KEY}' is not JSON (${(e as Error).message}); re-export the policy with 'o2o export'`);
  }
  const ok =
    c &&
    typeof c === 'object' &&
    c.format === 'o2o-policy-card/1' &&
    typeof c.observation?.dim === 'number' &&
    typeof c.action?.dim === 'number' &&
    Array.isArray(c.action.low) &&
    Array.isArray(c.action.high);
  if (!ok) throw new ArtifactError(`${where}: metadata '${CARD_KEY}' is not an o2o-policy-card/1; re-export the policy with 'o2o export'`);
  const d = c.distribution;
  if (
    d !== undefined &&
    !(d && (d.kind === 'tanh-gaussian' || d.kind === 'gaussian') && typeof d.loc === 'string' && typeof d.logStd === 'string' && typeof d.scale === 'number' && d.scale > 0)
  ) {
    throw new ArtifactError(`${where}: the card's 'distribution' is not { kind: 'tanh-gaussian' | 'gaussian', loc, logStd, scale > 0 }; re-export the policy with 'o2o export'`);
  }
  const problem = c.interface === undefined ? null : interfaceProblem(c.interface);
  if (problem) throw new ArtifactError(`${where}: the card's 'interface' is not valid: ${problem}`);
  return c;
}

/**
 * Checks an artifact against a trust policy; throws ArtifactError saying what failed, where, and
 * how to fix it. Nothing is loaded into a runtime here.
 */
export function verifyArtifact(input: ArtifactInput, trust: TrustPolicy = {}): VerifiedArtifact {
  const { bytes, source } = input;
  const outline = outlineOnnx(bytes, source);
  const fileSha = sha256Hex(bytes);
  const cardEntry = outline.metadata.find((m) => m.key === CARD_KEY);
  const card = cardEntry ? parseCard(cardEntry.value, source) : null;
  const shaEntries = outline.metadata.filter((m) => m.key === SHA_KEY);
  if (shaEntries.length > 1) throw new ArtifactError(`${source}: carries ${shaEntries.length} '${SHA_KEY}' entries; re-export the policy`);
  if (shaEntries.length === 1) {
    const want = shaEntries[0]!.value;
    const got = contentSha256(bytes, outline);
    if (want !== got)
      throw new ArtifactError(
        `${source}: sha256 mismatch (card says ${want.slice(0, 12)}…, content is ${got.slice(0, 12)}…); the file was modified or cut — copy it again from the exporter`,
      );
  }
  let verifiedBy: VerifiedArtifact['verifiedBy'] = shaEntries.length ? 'sha256' : 'none';
  let keyId: string | null = null;
  const keys = trust.publicKeys ?? [];
  if (keys.length) {
    const sig = input.signature;
    if (!sig) throw new ArtifactError(`${source}: unsigned, and this runtime requires an ed25519 signature; sign it with 'o2o export --sign <key>' (writes ${source}.sig)`);
    if (sig.format !== 'o2o-signature/1' || sig.algorithm !== 'ed25519')
      throw new ArtifactError(`${source}: signature sidecar has format ${String(sig.format)}/${String(sig.algorithm)}, expected o2o-signature/1 ed25519`);
    const key = keys.map((k) => (typeof k === 'string' ? createPublicKey(k) : k)).find((k) => keyIdOf(k) === sig.keyId);
    if (!key)
      throw new ArtifactError(
        `${source}: signed by key ${sig.keyId}, which is not among the trusted keys (${keys.map((k) => keyIdOf(k)).join(', ')}); add its public key to the runtime's trusted keys`,
      );
    if (!cryptoVerify(null, bytes, key, Buffer.from(sig.signature, 'base64'))) {
      throw new ArtifactError(`${source}: ed25519 signature by key ${sig.keyId} does not match the file; the file or its .sig was modified — re-sign or copy both again`);
    }
    verifiedBy = 'signature';
    keyId = sig.keyId;
  } else if (input.sha256) {
    if (input.sha256.toLowerCase() !== fileSha)
      throw new ArtifactError(`${source}: sha256 is ${fileSha.slice(0, 12)}…, expected ${input.sha256.slice(0, 12)}…; the file was modified or cut — copy it again`);
    verifiedBy = 'sha256';
  }
  if (verifiedBy === 'none' && !trust.allowUnverified) {
    throw new ArtifactError(
      `${source}: carries no o2o.sha256 and no signature, so it cannot be verified; seal it with 'o2o export --from ${source}', add a ${source}.sha256 file, or allow unverified policies explicitly`,
    );
  }
  const description = input.description ?? null;
  if (description && card)
    throw new ArtifactError(
      `${source}: carries its own card (a '${policyInterfaceOf(card).kind}' policy); the description from ${description.source ?? 'the caller'} is for foreign files without one — remove it`,
    );
  return { bytes, source, card, sha256: fileSha, verifiedBy, keyId, version: card?.version ?? fileSha.slice(0, 12), description };
}

/** Reads `<file>`, and `<file>.sig`, `<file>.sha256` and `<file>.card.json` (a PolicyDescription) when present. */
export function readArtifactFile(file: string): ArtifactInput {
  if (!existsSync(file)) throw new ArtifactError(`${file}: no such policy file; check the path (export one with 'o2o export')`);
  const bytes = new Uint8Array(readFileSync(file));
  let signature: SignatureSidecar | null = null;
  if (existsSync(`${file}.sig`)) {
    try {
      signature = JSON.parse(readFileSync(`${file}.sig`, 'utf8')) as SignatureSidecar;
    } catch (e) {
      throw new ArtifactError(`${file}.sig: not JSON (${(e as Error).message}); re-sign the policy`);
    }
  }
  const sha256 = existsSync(`${file}.sha256`) ? readFileSync(`${file}.sha256`, 'utf8').trim().split(/\s+/)[0]! : null;
  return { bytes, source: file, signature, sha256, description: readDescriptionFile(cardFileOf(file), true) };
}

/** Where a foreign model's description lives: `<model>.card.json`. */
export function cardFileOf(model: string): string {
  return `${model}.card.json`;
}

/** Reads a PolicyDescription from a JSON file (null when `optional` and the file does not exist). */
export function readDescriptionFile(file: string, optional = false): PolicyDescription | null {
  if (optional && !existsSync(file)) return null;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ArtifactError(`${file}: cannot read the policy description (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ArtifactError(`${file}: not JSON (${(e as Error).message}); a policy description is { "interface": {...}, "inputName": ..., "outputName": ... }`);
  }
  return checkDescription(json, file);
}

/** The card of an artifact (null for foreign files), without any trust check. */
export function readCard(bytes: Uint8Array, where = 'policy'): PolicyCard | null {
  const e = outlineOnnx(bytes, where).metadata.find((m) => m.key === CARD_KEY);
  return e ? parseCard(e.value, where) : null;
}
