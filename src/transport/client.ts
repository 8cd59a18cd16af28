/**
 * A thin MQTT client: connect (with a timeout and a message that says what to check), publish,
 * subscribe, one message handler, and close. Reconnects by itself (a robot outlives broker
 * restarts); subscriptions are restored by mqtt.js on reconnect.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

export interface LinkOptions {
  clientId?: string;
  /** MQTT protocol version: 4 (3.1.1, default; what aedes speaks) or 5. */
  protocolVersion?: 4 | 5;
  /** Message published by the broker if this client vanishes (retained status OFFLINE). */
  will?: { topic: string; payload: Uint8Array; qos?: 0 | 1; retain?: boolean };
  connectTimeoutMs?: number;
  username?: string;
  password?: string;
}

export type MessageHandler = (topic: string, payload: Uint8Array) => void;

export class MqttLink {
  private handlers: MessageHandler[] = [];
  private constructor(readonly client: MqttClient, readonly url: string) {
    client.on('message', (topic, payload) => {
      for (const h of this.handlers) h(topic, payload);
    });
  }

  static async connect(url: string, opts: LinkOptions = {}): Promise<MqttLink> {
    const timeout = opts.connectTimeoutMs ?? 5000;
    const o: IClientOptions = {
      clientId: opts.clientId ?? `o2o-${process.pid}-${Math.floor(Math.random() * 1e9).toString(36)}`,
      protocolVersion: opts.protocolVersion ?? 4,
      connectTimeout: timeout,
      reconnectPeriod: 1000,
      keepalive: 10,
      username: opts.username,
      password: opts.password,
      will: opts.will ? { topic: opts.will.topic, payload: Buffer.from(opts.will.payload), qos: opts.will.qos ?? 1, retain: opts.will.retain ?? true } : undefined,
    };
    const client = mqtt.connect(url, o);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error('no CONNACK')), timeout);
      const fail = (e: Error) => {
        clearTimeout(timer);
        client.removeListener('connect', ok);
        client.end(true);
        reject(new Error(`MQTT ${url}: cannot connect (${e.message}); check that the broker runs and the URL (mqtt://host:port) is right — 'o2o serve' can start an embedded one`));
      };
      const ok = () => {
        clearTimeout(timer);
        client.removeListener('error', fail);
        resolve();
      };
      client.once('connect', ok);
      client.once('error', fail);
    });
    client.on('error', () => {}); // later errors: mqtt.js reconnects; status goes through 'offline'/'reconnect'
    return new MqttLink(client, url);
  }

  get connected(): boolean {
    return this.client.connected;
  }

  onMessage(h: MessageHandler): void {
    this.handlers.push(h);
  }

  async subscribe(filter: string, qos: 0 | 1 = 0): Promise<void> {
    const granted = await this.client.subscribeAsync(filter, { qos });
    const bad = granted.find((g) => g.qos === 128);
    if (bad) throw new Error(`MQTT ${this.url}: broker refused the subscription to '${filter}'; check the broker's ACL for this client`);
  }

  /** Fire-and-forget publish (QoS 0 for control traffic); errors surface through the client's reconnect. */
  publish(topic: string, payload: Uint8Array, opts: { qos?: 0 | 1; retain?: boolean } = {}): void {
    this.client.publish(topic, Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), { qos: opts.qos ?? 0, retain: opts.retain ?? false });
  }

  async publishAsync(topic: string, payload: Uint8Array, opts: { qos?: 0 | 1; retain?: boolean } = {}): Promise<void> {
    await this.client.publishAsync(topic, Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), { qos: opts.qos ?? 1, retain: opts.retain ?? false });
  }

  async close(): Promise<void> {
    await this.client.endAsync();
  }
}
