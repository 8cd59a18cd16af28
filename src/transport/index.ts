// Public API of src/transport: MQTT link, embedded broker, control-path codecs, topic tree.
export { MqttLink, type LinkOptions, type MessageHandler, redactUrl, urlCredentials } from './client.js';
export { startBroker, type EmbeddedBroker } from './broker.js';
export * from './codec.js';
export * from './topics.js';
export { TransitionSpool, type SpoolOptions } from './spool.js';
export * from './ack.js';
