export { mlp, mlpLayout, mlpParamSpecs, mlpFlops, activate, type MlpSpec, type Activation } from './mlp.js';
