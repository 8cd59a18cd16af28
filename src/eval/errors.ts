/** Errors of the evaluation library: what went wrong, where, and how to fix it. */
export class EvalError extends Error {
  override name = 'EvalError';
}
