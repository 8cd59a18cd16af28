/**
 * The MQTT topic tree (ARCHITECTURE.md):
 *   o2o/<fleet>/robots/<robot>/obs          Observation, QoS 0 (robot → policy server)
 *   o2o/<fleet>/robots/<robot>/action       Action, QoS 0 (policy server → robot)
 *   o2o/<fleet>/robots/<robot>/status       RobotStatus, retained, last will OFFLINE
 *   o2o/<fleet>/robots/<robot>/transitions  TransitionBatch, QoS 1 (robot → learner)
 *   o2o/<fleet>/robots/<robot>/ack          TransitionAck, QoS 1, retained (learner → robot: what is durably stored)
 *   o2o/<fleet>/learner/<learner>/status    RobotStatus of a learner, retained, last will OFFLINE
 *   o2o/<fleet>/policy/current              PolicyUpdate, retained
 *   o2o/<fleet>/serve/<server>/status       RobotStatus of a policy server, retained, last will OFFLINE
 */
export interface RobotTopics {
  obs: string;
  action: string;
  status: string;
  transitions: string;
  ack: string;
}

const NAME = /^[A-Za-z0-9_.-]+$/;

export function checkTopicName(kind: string, name: string): string {
  if (!NAME.test(name)) throw new RangeError(`MQTT ${kind} name '${name}' may only use letters, digits, '_', '.' and '-' (no '/', '+', '#' or spaces)`);
  return name;
}

export function robotTopics(fleet: string, robot: string): RobotTopics {
  const base = `o2o/${checkTopicName('fleet', fleet)}/robots/${checkTopicName('robot', robot)}`;
  return { obs: `${base}/obs`, action: `${base}/action`, status: `${base}/status`, transitions: `${base}/transitions`, ack: `${base}/ack` };
}

export function policyTopic(fleet: string): string {
  return `o2o/${checkTopicName('fleet', fleet)}/policy/current`;
}

export function serverStatusTopic(fleet: string, server: string): string {
  return `o2o/${checkTopicName('fleet', fleet)}/serve/${checkTopicName('server', server)}/status`;
}

export function learnerStatusTopic(fleet: string, learner: string): string {
  return `o2o/${checkTopicName('fleet', fleet)}/learner/${checkTopicName('learner', learner)}/status`;
}

/** Every learner's status in a fleet (robots resend their unacknowledged batches when one comes up). */
export function learnerStatusFilter(fleet: string): string {
  return `o2o/${checkTopicName('fleet', fleet)}/learner/+/status`;
}

/** Every robot's transitions in a fleet (what a learner subscribes to). */
export function fleetTransitionsFilter(fleet: string): string {
  return `o2o/${checkTopicName('fleet', fleet)}/robots/+/transitions`;
}

/** Wildcard for every robot's observations in a fleet (one server for many robots). */
export function fleetObsFilter(fleet: string): string {
  return `o2o/${checkTopicName('fleet', fleet)}/robots/+/obs`;
}

/** The robot name in o2o/<fleet>/robots/<robot>/<leaf>, or null. */
export function robotOf(topic: string): string | null {
  const p = topic.split('/');
  return p.length === 5 && p[0] === 'o2o' && p[2] === 'robots' ? p[3]! : null;
}
