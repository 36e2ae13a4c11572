// A TCP proxy on 127.0.0.1 in front of a test server (s3rver) that can reset connections in the
// middle of a response body: the "socket reset mid-request" a flaky network or a dying S3 node
// gives, which a kill of the server cannot time. While `cutGetBodies` is on, every response to a
// GET is forwarded for its first `afterBytes` bytes (headers and some body), then both sides are
// reset (RST to the client).
import net from 'node:net';

export interface CuttingProxy {
  readonly port: number;
  /** Responses cut so far. */
  readonly cuts: number;
  cutGetBodies: boolean;
  close(): Promise<void>;
}

export async function startCuttingProxy(targetPort: number, afterBytes = 16 * 1024): Promise<CuttingProxy> {
  const sockets = new Set<net.Socket>();
  const state = { cuts: 0, cutGetBodies: false };
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    let lastMethod = '';
    let responseBytes = 0;
    client.on('data', (d: Buffer) => {
      const head = d.subarray(0, 8).toString('latin1');
      const m = /^([A-Z]+) /.exec(head);
      if (m) {
        lastMethod = m[1]!;
        responseBytes = 0;
      }
      upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      if (state.cutGetBodies && lastMethod === 'GET' && responseBytes + d.length > afterBytes) {
        client.write(d.subarray(0, Math.max(0, afterBytes - responseBytes)));
        state.cuts += 1;
        client.resetAndDestroy();
        upstream.destroy();
        return;
      }
      responseBytes += d.length;
      client.write(d);
    });
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', close).on('error', close).on('end', () => upstream.end());
    upstream.on('close', close).on('error', close).on('end', () => client.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as net.AddressInfo).port,
    get cuts() {
      return state.cuts;
    },
    get cutGetBodies() {
      return state.cutGetBodies;
    },
    set cutGetBodies(on: boolean) {
      state.cutGetBodies = on;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
