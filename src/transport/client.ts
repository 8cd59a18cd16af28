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

/** The URL with its password replaced by *** (mqtt://u:***@host:1883), for logs and messages. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*):[^@/]*@/i, '$1:***@');
}

/**
 * Splits user:password out of an MQTT URL (percent-decoded). Explicit credentials win over the
 * URL's; the URL handed to mqtt.js carries none (mqtt.js would let the URL's override them).
 */
export function urlCredentials(url: string): { url: string; username?: string; password?: string } {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)([^@/]*)@(.*)$/i.exec(url);
  if (!m) return { url };
  const auth = m[2]!;
  const colon = auth.indexOf(':');
  const dec = (x: string) => {
    try {
      return decodeURIComponent(x);
    } catch {
      return x;
    }
  };
  const username = dec(colon >= 0 ? auth.slice(0, colon) : auth);
  const password = colon >= 0 ? dec(auth.slice(colon + 1)) : undefined;
  return { url: `${m[1]}${m[3]}`, ...(username ? { username } : {}), ...(password !== undefined ? { password } : {}) };
}

export type MessageHandler = (topic: string, payload: Uint8Array) => void;

export class MqttLink {
  private handlers: MessageHandler[] = [];
  /** `url` is the redacted URL (no password). */
  private constructor(
    readonly client: MqttClient,
    readonly url: string,
  ) {
    client.on('message', (topic, payload) => {
      for (const h of this.handlers) h(topic, payload);
    });
  }

  static async connect(url: string, opts: LinkOptions = {}): Promise<MqttLink> {
    const timeout = opts.connectTimeoutMs ?? 5000;
    const creds = urlCredentials(url);
    const shown = redactUrl(url);
    const username = opts.username ?? creds.username;
    const password = opts.password ?? creds.password;
    const o: IClientOptions = {
      clientId: opts.clientId ?? `o2o-${process.pid}-${Math.floor(Math.random() * 1e9).toString(36)}`,
      protocolVersion: opts.protocolVersion ?? 4,
      connectTimeout: timeout,
      reconnectPeriod: 1000,
      keepalive: 10,
      username,
      password,
      will: opts.will ? { topic: opts.will.topic, payload: Buffer.from(opts.will.payload), qos: opts.will.qos ?? 1, retain: opts.will.retain ?? true } : undefined,
    };
    const client = mqtt.connect(creds.url, o);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error('no CONNACK')), timeout);
      const fail = (e: Error & { code?: number }) => {
        clearTimeout(timer);
        client.removeListener('connect', ok);
        client.end(true);
        // CONNACK return codes 4 (bad user name or password) and 5 (not authorized).
        if (e.code === 4 || e.code === 5) {
          const who = username !== undefined ? `user '${username}'${password !== undefined ? ' with the given password' : ' without a password'}` : 'no user name';
          reject(
            new Error(
              `MQTT ${shown}: the broker refused the credentials (${e.message}; ${who}); check --username/--password, O2O_MQTT_USERNAME/O2O_MQTT_PASSWORD or the user:password in the URL`,
            ),
          );
          return;
        }
        reject(
          new Error(`MQTT ${shown}: cannot connect (${e.message}); check that the broker runs and the URL (mqtt://host:port) is right — 'o2o serve' can start an embedded one`),
        );
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
    return new MqttLink(client, shown);
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
