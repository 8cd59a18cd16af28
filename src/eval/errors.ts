/** Errors of the evaluation library: what went wrong, where, and how to fix it. */
export class EvaluationError extends Error {
  override name = 'EvaluationError';
}
