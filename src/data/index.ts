// Public API of src/data.
export * from './dataset.js';
export { FinalObservations, nextObsRow, nextObservationsOf, withExplicitNext, withImplicitNext, nextObsBytes, checkNextObservations } from './next-obs.js';
export * from './builder.js';
export * from './errors.js';
export * from './returns.js';
export * from './normalization.js';
export * from './samplers.js';
export * from './commands.js';
export { createStore, openStore, DatasetStore, SegmentAppender, TRANSITIONS_TOPIC, TRANSITION_SCHEMA } from './formats/mcap-store.js';
export type { StoreSpec, StoreReadResult, AppenderOptions, RepairReport, PartialReport } from './formats/mcap-store.js';
export type { DroppedChunk, SalvagedSegment, ManifestRebuild } from './formats/salvage.js';
export type { Manifest, SegmentEntry } from './formats/manifest.js';
export { encodeTransitionBatch, decodeTransitionBatch, appendDecoded, withAckedBelow, type DecodedBatch } from './formats/transition-codec.js';
export { importD4rl, exportD4rl, importMinari, exportMinari } from './formats/hdf5.js';
export { importRosbag2, parseRos2Mapping } from './formats/rosbag2.js';
export { o2oRoot, o2oType, o2oFileDescriptorSet, PROTO_PATH } from './schema/proto.js';
export * from './sequences.js';
export * from './chunks.js';
