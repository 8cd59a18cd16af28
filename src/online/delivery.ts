/**
 * The learner's side of end-to-end delivery (docs/architecture.md, "The delivery protocol"): what
 * a robot is told for each ingest outcome, the retained TransitionAck on its ack topic, and the
 * learner's own retained status (RUNNING makes robots resend what is not acknowledged).
 */
import type { IClientOptions, MqttClient } from 'mqtt';
import { type AckResult, encodeAck, encodeStatusMessage, learnerStatusTopic, robotTopics, type StatusMessage } from '../transport/index.js';
import type { IngestOutcome, IngestResult } from './ingest.js';

/** What a robot is told for each ingest outcome (null: nothing, the sender is unknown). */
export const ACK_FOR: Record<IngestOutcome, AckResult | null> = {
  accepted: 'STORED',
  duplicates: 'DUPLICATE',
  ahead: 'AHEAD',
  badShape: 'REJECTED',
  nonFinite: 'REJECTED',
  malformed: 'REJECTED',
  overBudget: 'OVER_BUDGET',
  wrongRobot: null,
  oversized: 'REJECTED',
};

export class LearnerDelivery {
  readonly statusTopic: string;

  constructor(
    private readonly fleet: string,
    readonly learnerId: string,
  ) {
    this.statusTopic = learnerStatusTopic(fleet, learnerId);
  }

  /** The MQTT last will: the broker marks this learner OFFLINE if it vanishes. */
  will(): IClientOptions['will'] {
    return { topic: this.statusTopic, payload: Buffer.from(encodeStatusMessage({ id: this.learnerId, state: 'OFFLINE', message: 'connection lost' })), qos: 1, retain: true };
  }

  /** Tells `robot` what is durably stored of it (`nextSequence`) and what became of batch `r`. */
  ack(client: MqttClient, robot: string, result: AckResult, nextSequence: number, r: Pick<IngestResult, 'firstSequence' | 'message'>): void {
    const bytes = encodeAck({ robotId: robot, nextSequence, result, batchFirstSequence: r.firstSequence, learnerId: this.learnerId, message: r.message });
    client.publish(robotTopics(this.fleet, robot).ack, Buffer.from(bytes), { qos: 1, retain: true });
  }

  /** Publishes the learner's retained status; resolves when the broker has it. */
  status(client: MqttClient, state: StatusMessage['state'], message: string): Promise<unknown> {
    return client.publishAsync(this.statusTopic, Buffer.from(encodeStatusMessage({ id: this.learnerId, state, message })), { qos: 1, retain: true });
  }
}
