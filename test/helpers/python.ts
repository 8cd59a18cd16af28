import { spawnSync } from 'node:child_process';

/** Debian's python3 (python3-onnx, python3-h5py live there), not a pyenv shim. */
const DEBIAN_PYTHON = '/usr/bin/python3';

/** Null when `import <module>` works, else the reason and the apt line that fixes it. */
export function missingPythonModule(module: string, aptPackage: string): string | null {
  const r = spawnSync(DEBIAN_PYTHON, ['-c', `import ${module}`], { encoding: 'utf8' });
  if (r.status === 0) return null;
  return `${DEBIAN_PYTHON} cannot import ${module}; install it with: apt-get install -y ${aptPackage}`;
}

/** Runs a Python snippet with Debian's interpreter; throws with its stderr on failure. */
export function runPython(code: string, args: string[] = []): string {
  const r = spawnSync(DEBIAN_PYTHON, ['-c', code, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`python failed (${r.status}): ${r.stderr || r.stdout}`);
  return r.stdout;
}

/**
 * In CI every checker is installed by .ci/run, so a missing one is a failure there; elsewhere the
 * test is skipped with the reason.
 */
export function requireOrSkip(reason: string | null): boolean {
  if (reason && process.env.CI) throw new Error(`CI must provide this checker: ${reason}`);
  if (reason) console.warn(`skipped: ${reason}`);
  return reason === null;
}
