// Public API of src/eval: sim-to-real evaluation of policies and its reports.
export { evaluatePolicy, type EvaluatePolicyOptions, type EvalSummary, type ProfileResult, type RealResult, type SampleSummary, type Gap } from './evaluate-policy.js';
export { writeReport, renderHtml, escapeHtml, type ReportFiles } from './report.js';
export { renderCharts, renderSvg, distributionSpec, scoreSpec, gapSpec, curveSpec, type ReportCharts } from './charts.js';
export { readRealRuns, type RealRuns } from './real.js';
export { readCurve, parseCurve, type LearningCurve, type CurvePoint } from './curve.js';
export { loadEvalPolicy, checkPolicyFits, actFn, type PolicyInfo, type LoadedPolicy, type EvalPolicyOptions } from './policy.js';
export { rollout, modelPolicy, type RolloutPolicy, type RolloutResult } from './rollout.js';
export * from './stats.js';
export { EvaluationError } from './errors.js';
