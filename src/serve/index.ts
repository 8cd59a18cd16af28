// Public API of src/serve: policy artifacts, the safety filter and the serving runtime.
export * from './artifact.js';
export { outlineOnnx, type OnnxOutline } from './onnx-meta.js';
export { PolicyModel, type ModelOptions } from './model.js';
export { SafetyFilter, SafetyConfigError, type SafetyConfig, type SafeActionMode, type FaultCounts, type FaultKind } from './safety.js';
export type { ChunkingOptions } from './chunks.js';
export { ActionSampler, ExplorationConfigError, robotSeed, type ExplorationConfig } from './exploration.js';
export { PolicyRuntime } from './runtime.js';
export type { RuntimeOptions, RuntimeEvent, RuntimeStatus, StepInfo, SwapResult } from './runtime-types.js';
export { exportPolicy, sealForeignPolicy, makeCard, writeAtomic, type CardInput, type ExportOptions, type ExportResult } from './export.js';
export { serveMqtt, decodeRobotStatus, encodePolicyUpdate, policyUpdateToArtifact, type ServeMqttOptions, type MqttServer } from './serve-mqtt.js';
export { runSimRobot, type SimRobotOptions, type SimRobotResult } from './sim-robot.js';
export { simulatedMqttFleet, type FleetSetup, type RobotFleet, type StartFleet } from './sim-fleet.js';
export { exportPolicyFile, writeSigningKey, type ExportFileOptions } from './commands.js';
export { Recorder, type RecorderOptions } from './recorder.js';
