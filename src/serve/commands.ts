/**
 * Library side of `o2o export` and `o2o keygen` (the CLI only parses arguments and prints).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ArtifactError,
  cardFileOf,
  generateSigningKey,
  type PolicyDescription,
  readCard,
  readDescriptionFile,
  readMetadata,
  resealArtifact,
  SHA_KEY,
  signArtifact,
  verifyArtifact,
} from './artifact.js';
import { type ExportResult, sealForeignPolicy, writeAtomic } from './export.js';
import { PolicyModel } from './model.js';

export interface ExportFileOptions {
  /** An ONNX policy: from `o2o train --out`, d3rlpy, torch.onnx. */
  from: string;
  out: string;
  /** Required for a new artifact; for an existing one it must match (or be omitted). */
  version?: string;
  name?: string;
  task?: string;
  algorithm?: string;
  datasetId?: string;
  trainingSteps?: number;
  seed?: number;
  obsNames?: string[];
  actNames?: string[];
  actLow?: number[];
  actHigh?: number[];
  inputName?: string;
  outputName?: string;
  notes?: string;
  /** ed25519 private key file (PEM); writes `<out>.sig`. */
  signingKeyFile?: string;
  /**
   * How to call a foreign file that takes a context (default: `<from>.card.json` when it exists);
   * its interface and names go into the card.
   */
  description?: PolicyDescription;
}

/**
 * Seals an ONNX policy into an artifact: card (fields not given are taken from legacy `o2o.*`
 * metadata of `o2o train --out` files where present), sha256, optional signature. The graph is
 * not touched, so actions are bit-identical to the input file's.
 */
export function exportPolicyFile(o: ExportFileOptions): ExportResult {
  if (!existsSync(o.from)) throw new ArtifactError(`${o.from}: no such file; train one with 'o2o train --out <file>'`);
  const bytes = new Uint8Array(readFileSync(o.from));
  const key = o.signingKeyFile ? readFileSync(o.signingKeyFile, 'utf8') : undefined;
  const existing = readCard(bytes, o.from);
  const description = o.description ?? readDescriptionFile(cardFileOf(o.from), true);
  if (existing && description)
    throw new ArtifactError(`${o.from}: carries its own card; the description from ${description.source ?? '--interface'} is for foreign files without one — remove it`);
  if (existing) {
    // Already an artifact: it is verified, copied and (re-)signed; its card and hash stay unless a
    // new --version is asked for (a release of a trained policy): then only the card's version changes.
    verifyArtifact({ bytes, source: o.from });
    if (o.version && o.version !== existing.version) {
      const card = { ...existing, version: o.version, notes: `${existing.notes ? `${existing.notes}; ` : ''}released as ${o.version} from ${existing.version}` };
      const sealed = resealArtifact(bytes, card);
      const signature = key ? signArtifact(sealed.bytes, key) : null;
      writeAtomic(o.out, sealed.bytes);
      if (signature) writeAtomic(`${o.out}.sig`, `${JSON.stringify(signature, null, 2)}\n`);
      return { bytes: sealed.bytes, card, sha256: sealed.sha256, signature };
    }
    const signature = key ? signArtifact(bytes, key) : null;
    writeAtomic(o.out, bytes);
    if (signature) writeAtomic(`${o.out}.sig`, `${JSON.stringify(signature, null, 2)}\n`);
    return { bytes, card: existing, sha256: readMetadata(bytes, o.from)[SHA_KEY]!, signature };
  }
  if (!o.version) throw new ArtifactError(`${o.from}: a new artifact needs a version (--version)`);
  const meta = readMetadata(bytes, o.from);
  const m = PolicyModel.load(bytes, o.from, {
    inputName: o.inputName ?? description?.inputName,
    outputName: o.outputName ?? description?.outputName,
    interface: description?.interface,
  });
  const dims = { obsDim: m.obsDim, actDim: m.actDim, inputName: m.inputName, outputName: m.outputName, interface: description?.interface };
  m.dispose();
  const res = sealForeignPolicy(
    bytes,
    {
      ...dims,
      name: o.name ?? o.out.replace(/^.*\//, '').replace(/\.onnx$/, ''),
      version: o.version,
      task: o.task ?? meta['o2o.task'] ?? '',
      algorithm: o.algorithm ?? meta['o2o.algo'] ?? meta['o2o.algorithm'] ?? '',
      datasetId: o.datasetId ?? meta['o2o.dataset'] ?? '',
      trainingSteps: o.trainingSteps ?? (meta['o2o.steps'] ? Number(meta['o2o.steps']) : 0),
      seed: o.seed ?? (meta['o2o.seed'] ? Number(meta['o2o.seed']) : null),
      obsNames: o.obsNames,
      actNames: o.actNames,
      actLow: o.actLow,
      actHigh: o.actHigh,
      notes: o.notes ?? `sealed from ${o.from}`,
    },
    key,
  );
  writeAtomic(o.out, res.bytes);
  if (res.signature) writeAtomic(`${o.out}.sig`, `${JSON.stringify(res.signature, null, 2)}\n`);
  return res;
}

/** Writes `<dir>/<name>.key` (private, mode 600) and `<dir>/<name>.pub`; returns the key id. */
export function writeSigningKey(dir: string, name = 'o2o-signing'): { privateKeyFile: string; publicKeyFile: string; keyId: string } {
  const k = generateSigningKey();
  const privateKeyFile = join(dir, `${name}.key`);
  const publicKeyFile = join(dir, `${name}.pub`);
  if (existsSync(privateKeyFile)) throw new ArtifactError(`${privateKeyFile} exists; refusing to overwrite a signing key — choose another name`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(privateKeyFile, k.privateKeyPem, { mode: 0o600, flag: 'wx' }); // never readable by others, never overwritten
  writeAtomic(publicKeyFile, k.publicKeyPem);
  return { privateKeyFile, publicKeyFile, keyId: k.keyId };
}
