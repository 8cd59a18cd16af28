/**
 * The zero-setup embedded broker (aedes, MQTT 3.1.1) for a laptop or a single robot cell. Fleets use
 * a real broker (mosquitto, EMQX, HiveMQ); nothing in o2o depends on which.
 */
import { type AddressInfo, createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';

export interface EmbeddedBroker {
  /** mqtt://host:port */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Starts aedes on host:port (port 0: a free one). */
export async function startBroker(opts: { host?: string; port?: number } = {}): Promise<EmbeddedBroker> {
  const host = opts.host ?? '127.0.0.1';
  const aedes = await Aedes.createBroker();
  const server: Server = createServer(aedes.handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new Error(`embedded MQTT broker: cannot listen on ${host}:${opts.port ?? 0} (${e.code ?? e.message}); choose another port or stop what holds it`)),
    );
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `mqtt://${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        aedes.close(() => server.close(() => resolve()));
      }),
  };
}
