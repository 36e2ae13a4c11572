// A TCP link to PostgreSQL that a test can cut and mend: the database "goes away" for the process
// under test (connections reset, new ones refused) and comes back on the same address, without
// touching the server that other tests share.
import net from 'node:net';

export interface TcpLink {
  /** The link's own port on 127.0.0.1. */
  port: number;
  /** Resets every connection through the link and refuses new ones. */
  cut(): Promise<void>;
  /**
   * Resets every connection through the link, then accepts new ones and forwards nothing either
   * way: a server that silently drops packets (a host gone in a failover).
   */
  blackHole(): Promise<void>;
  /** Accepts (and forwards) connections again, on the same port. */
  mend(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpLink(target: { host: string; port: number }): Promise<TcpLink> {
  const sockets = new Set<net.Socket>();
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  };
  let blackHoled = false;
  const server = net.createServer((client) => {
    track(client);
    if (blackHoled) return;
    const upstream = net.connect(target.port, target.host);
    track(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  const listen = (port: number) => new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  await listen(0);
  const port = (server.address() as net.AddressInfo).port;
  const resetAll = () => {
    for (const s of sockets) s.resetAndDestroy();
  };
  const cut = async () => {
    const closed = server.listening ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    resetAll();
    await closed;
  };
  return {
    port,
    cut,
    async blackHole() {
      blackHoled = true;
      resetAll();
    },
    async mend() {
      if (blackHoled) {
        blackHoled = false;
        resetAll();
      }
      if (!server.listening) await listen(port);
    },
    close: cut,
  };
}
