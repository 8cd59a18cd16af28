/**
 * Loading MuJoCo (official WebAssembly build, `mujoco-js`) in Node.
 *
 * The WASM module is instantiated once per process (cached promise, ~0.2–0.3 s); models are
 * written into the module's in-memory filesystem (MEMFS) and compiled with MjModel.loadFromXML.
 * Arrays such as `data.qpos` are Float64Array views into WASM memory: every property access builds
 * a new view, so hot paths cache them — and re-fetch them when WASM memory grows (a grow detaches
 * the old buffer, which then reads as byteLength 0). `PhysicsViews` does both.
 */
import { readFileSync } from 'node:fs';
import type { MainModule, MjData, MjModel } from 'mujoco-js';

let modulePromise: Promise<MainModule> | undefined;
let fsReady = false;
let modelCounter = 0;

/** The MuJoCo WASM module, loaded once per process. */
export function loadMujoco(): Promise<MainModule> {
  if (!modulePromise) {
    modulePromise = import('mujoco-js')
      .then((m) => m.default())
      .catch((err: unknown) => {
        modulePromise = undefined;
        throw new Error(
          `simulators/mujoco: could not load the MuJoCo WebAssembly module (mujoco-js): ${String(err)}; ` +
            `run 'npm install' and check that node_modules/mujoco-js/dist/mujoco_wasm.js exists`,
        );
      });
  }
  return modulePromise;
}

/** Read one of our model files (simulators/mujoco/models/<name>.xml). */
export function readModelXml(name: string): string {
  const url = new URL(`./models/${name}.xml`, import.meta.url);
  try {
    return readFileSync(url, 'utf8');
  } catch (err) {
    throw new Error(`simulators/mujoco: model '${name}' not found at ${url.pathname}: ${String(err)}`);
  }
}

export interface LoadedModel {
  mj: MainModule;
  model: MjModel;
  data: MjData;
}

/** Compile an MJCF string into a fresh MjModel + MjData. `label` names the model in errors. */
export async function compileModel(xml: string, label: string): Promise<LoadedModel> {
  const mj = await loadMujoco();
  if (!fsReady) {
    try {
      mj.FS.mkdir('/o2o');
    } catch {
      // already exists (another module instance path); fine
    }
    fsReady = true;
  }
  const path = `/o2o/${label.replace(/[^A-Za-z0-9_-]/g, '_')}-${modelCounter++}.xml`;
  mj.FS.writeFile(path, xml);
  let model: MjModel;
  try {
    model = mj.MjModel.loadFromXML(path);
  } catch (err) {
    throw new Error(`simulators/mujoco: model '${label}' failed to compile: ${describeWasmError(mj, err)}`);
  } finally {
    try {
      mj.FS.unlink(path);
    } catch {
      // ignore
    }
  }
  if (!model) throw new Error(`simulators/mujoco: model '${label}' failed to compile (loadFromXML returned nothing)`);
  const data = new mj.MjData(model);
  return { mj, model, data };
}

function describeWasmError(mj: MainModule, err: unknown): string {
  // Embind C++ exceptions arrive as a pointer-like value; the message is available when exported.
  const anyMj = mj as unknown as { getExceptionMessage?: (e: unknown) => unknown };
  if (typeof err === 'number' && typeof anyMj.getExceptionMessage === 'function') {
    try {
      return String(anyMj.getExceptionMessage(err));
    } catch {
      // fall through
    }
  }
  return err instanceof Error ? err.message : String(err);
}

export const INTEGRATORS = { euler: 0, rk4: 1, implicit: 2, implicitfast: 3 } as const;
export type IntegratorName = keyof typeof INTEGRATORS;

/** Cached typed-array views of the MuJoCo arrays an env touches per step. */
export class PhysicsViews {
  qpos!: Float64Array;
  qvel!: Float64Array;
  ctrl!: Float64Array;
  siteXpos!: Float64Array;
  bodyMass!: Float64Array;
  bodyInertia!: Float64Array;
  geomFriction!: Float64Array;
  dofDamping!: Float64Array;
  gainprm!: Float64Array;
  biasprm!: Float64Array;

  constructor(
    private readonly model: MjModel,
    private readonly data: MjData,
  ) {
    this.refresh();
  }

  /** Re-fetch every view if WASM memory grew since the last call (cheap check). */
  ensure(): void {
    if (this.qpos.byteLength === 0 && this.model.nq > 0) this.refresh();
  }

  refresh(): void {
    const m = this.model;
    const d = this.data;
    this.qpos = d.qpos as Float64Array;
    this.qvel = d.qvel as Float64Array;
    this.ctrl = d.ctrl as Float64Array;
    this.siteXpos = d.site_xpos as Float64Array;
    this.bodyMass = m.body_mass as Float64Array;
    this.bodyInertia = m.body_inertia as Float64Array;
    this.geomFriction = m.geom_friction as Float64Array;
    this.dofDamping = m.dof_damping as Float64Array;
    this.gainprm = m.actuator_gainprm as Float64Array;
    this.biasprm = m.actuator_biasprm as Float64Array;
  }
}
