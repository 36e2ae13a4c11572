// GETs of a (presigned) object URL whose body goes straight into a server response, read with
// `onread` into a few reused buffers. Every other HTTP client in Node (undici, node:http) reads
// into a fresh 64 KiB ArrayBuffer per socket read, and on the streamed S3 pull that garbage was
// most of Berth's CPU: a bare proxy of one 256 MiB s3rver object used 2.43 CPU-s per GiB through
// undici and a pipe, 0.96 this way (median of 10 pulls each, interleaved; curl as the client).
// A buffer is reused once the response's socket has taken its bytes (the write callback), and
// reading stops while MAX_IN_FLIGHT buffers wait, so memory stays flat whatever the client's pace.
//
// Only what an object GET needs: HTTP/1.1, a Content-Length body, keep-alive. Anything else (a
// status other than 2xx, a chunked body, a failure before the status line) answers undefined and
// the caller asks again through the SDK, whose retries and error mapping stay the one path for
// failures. Connections are not capped (undici's pool was, at 256): each pull in flight holds one.
import net from 'node:net';
import type { Writable } from 'node:stream';
import tls from 'node:tls';
import { BufferPool } from '../../memory/buffer-pool.js';
import type { BlobBody } from '../blob-store.js';

/** Buffers of one response handed to its client's socket and not written yet. */
const MAX_IN_FLIGHT = 4;
const MAX_HEAD = 64 * 1024;
/** Below the 5 s keep-alive of Node servers (s3rver) and far below S3's own. */
const KEEP_IDLE_MS = 4_000;
const MAX_IDLE_PER_ORIGIN = 32;

/** One socket read each. */
const READ_SIZE = 64 * 1024;
/** Read buffers kept for reuse across responses: 4 MiB at most. */
const spare = new BufferPool(64);
const giveBack = (buffer: Buffer): void => spare.giveBack(buffer);

export interface ObjectGetOptions {
  range?: string | undefined;
  signal?: AbortSignal | undefined;
}

export interface ObjectGetTimeouts {
  connectTimeoutMs: number;
  /** Longest silence from the server while an exchange waits on it. */
  idleTimeoutMs: number;
}

/** Receives the bytes of one socket read; returns false to stop reading for now. */
type ReadHandler = (bytes: Buffer, buffer: Buffer) => boolean;

class Connection {
  readonly socket: net.Socket;
  private handler: ReadHandler | null = null;
  private closedWith: ((err: Error) => void) | null = null;
  /** Whether any response was read whole on it: a failure before the next one's first byte is the keep-alive race. */
  reused = false;
  dead = false;

  constructor(
    readonly origin: URL,
    { connectTimeoutMs, idleTimeoutMs }: ObjectGetTimeouts,
  ) {
    const onread = {
      buffer: () => spare.take(READ_SIZE),
      callback: (n: number, buffer: Buffer): boolean => {
        if (this.handler) return this.handler(buffer.subarray(0, n), buffer);
        giveBack(buffer);
        this.socket.destroy(new Error('bytes from the object server between responses'));
        return false;
      },
    };
    const port = Number(origin.port) || (origin.protocol === 'https:' ? 443 : 80);
    this.socket =
      origin.protocol === 'https:'
        ? tls.connect({ host: origin.hostname, port, servername: net.isIP(origin.hostname) ? undefined : origin.hostname, onread } as tls.ConnectionOptions)
        : net.connect({ host: origin.hostname, port, onread } as net.NetConnectOpts);
    this.socket.setNoDelay(true);
    // One limit at a time: connecting, then between bytes of an exchange, then idle in the pool.
    this.socket.setTimeout(connectTimeoutMs);
    this.socket.on('timeout', () => this.socket.destroy(new Error('the object server timed out')));
    this.socket.once(origin.protocol === 'https:' ? 'secureConnect' : 'connect', () => this.socket.setTimeout(idleTimeoutMs));
    this.socket.on('error', () => {}); // reported through 'close'
    this.socket.on('close', () => {
      this.dead = true;
      const closed = this.closedWith;
      this.handler = this.closedWith = null;
      closed?.(new Error('the object server closed the connection'));
    });
  }

  /** Routes reads to `handler` and a close to `onClose`, until detach(). */
  attach(handler: ReadHandler, onClose: (err: Error) => void): void {
    this.handler = handler;
    this.closedWith = onClose;
  }

  detach(): void {
    this.handler = this.closedWith = null;
  }

  destroy(err?: Error): void {
    this.detach();
    this.dead = true;
    this.socket.destroy(err);
  }
}

/** Idle keep-alive connections by origin. */
class ConnectionPool {
  private readonly idle = new Map<string, Connection[]>();

  take(origin: URL): Connection | undefined {
    const list = this.idle.get(origin.origin);
    let connection: Connection | undefined;
    while ((connection = list?.pop())) {
      if (!connection.dead) return connection;
    }
    return undefined;
  }

  /** Keeps a connection whose last response was read whole; it goes on reading, to notice a close. */
  put(connection: Connection): void {
    connection.detach();
    const key = connection.origin.origin;
    const list = (this.idle.get(key) ?? []).filter((c) => !c.dead);
    this.idle.set(key, list);
    if (list.length >= MAX_IDLE_PER_ORIGIN) return connection.destroy();
    connection.reused = true;
    connection.socket.setTimeout(KEEP_IDLE_MS);
    // Reading may have been stopped (a body that came whole with its head): started again here.
    connection.socket.resume();
    list.push(connection);
  }
}

interface Head {
  version: '1.0' | '1.1';
  status: number;
  headers: Map<string, string>;
}

function parseHead(text: string): Head | undefined {
  const lines = text.split('\r\n');
  const status = /^HTTP\/1\.([01]) (\d{3})/.exec(lines[0] ?? '');
  if (!status) return undefined;
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) return undefined;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    // A repeated Content-Length that disagrees is a framing error (RFC 9112 §6.3).
    if (name === 'content-length' && headers.has(name) && headers.get(name) !== value) return undefined;
    headers.set(name, value);
  }
  return { version: status[1] === '0' ? '1.0' : '1.1', status: Number(status[2]), headers };
}

export class ObjectGets {
  private readonly pool = new ConnectionPool();

  constructor(private readonly timeouts: ObjectGetTimeouts) {}

  /**
   * The body of a GET of `url`, once its status line and headers came in, or undefined when it
   * cannot be sent from here (not 2xx, no Content-Length, transport failure before the head).
   * An abort by `signal` rejects.
   */
  async get(url: string, options: ObjectGetOptions): Promise<BlobBody | undefined> {
    const target = new URL(url);
    if (target.protocol !== 'http:' && target.protocol !== 'https:') return undefined;
    options.signal?.throwIfAborted();
    // A pooled connection the server closed meanwhile fails before any byte: once more on a new one.
    for (let attempt = 0; attempt < 2; attempt++) {
      const pooled = this.pool.take(target);
      const connection = pooled ?? new Connection(target, this.timeouts);
      if (pooled) connection.socket.setTimeout(this.timeouts.idleTimeoutMs);
      const outcome = await this.exchange(connection, target, options);
      if (outcome !== 'stale' || !pooled) return outcome === 'stale' ? undefined : outcome;
    }
    return undefined;
  }

  private exchange(connection: Connection, target: URL, options: ObjectGetOptions): Promise<BlobBody | undefined | 'stale'> {
    const { signal } = options;
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let headBytes = 0;
      let sawBytes = false;
      const onAbort = () => {
        connection.destroy();
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const settle = (value: BlobBody | undefined | 'stale') => {
        signal?.removeEventListener('abort', onAbort);
        resolve(value);
      };
      connection.attach(
        (bytes, buffer) => {
          sawBytes = true;
          chunks.push(Buffer.from(bytes)); // heads are small: copied, and the buffer reused at once
          giveBack(buffer);
          headBytes += bytes.length;
          const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
          const end = all.indexOf('\r\n\r\n');
          if (end < 0) {
            if (headBytes <= MAX_HEAD) return true;
            connection.destroy();
            settle(undefined);
            return false;
          }
          const head = parseHead(all.subarray(0, end).toString('latin1'));
          const rest = all.subarray(end + 4);
          const length = Number(head?.headers.get('content-length'));
          if (!head || head.status < 200 || head.status > 299 || !Number.isSafeInteger(length) || head.headers.has('transfer-encoding') || rest.length > length) {
            // Not ours to handle (an error document, a chunked body): the connection goes with it.
            connection.destroy();
            settle(undefined);
            return false;
          }
          const connectionHeader = head.headers.get('connection') ?? '';
          const keepAlive = head.version === '1.1' ? !/(^|,)\s*close\s*(,|$)/i.test(connectionHeader) : /keep-alive/i.test(connectionHeader);
          settle(this.body(connection, length, rest, keepAlive, options));
          // Nothing reads on until sendTo() has somewhere to put the bytes.
          return false;
        },
        () => settle(!sawBytes && connection.reused ? 'stale' : undefined),
      );
      const range = options.range ? `Range: ${options.range}\r\n` : '';
      connection.socket.write(`GET ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\n${range}Accept-Encoding: identity\r\n\r\n`);
    });
  }

  private body(connection: Connection, length: number, first: Buffer, keepAlive: boolean, options: ObjectGetOptions): BlobBody {
    const pool = this.pool;
    let taken = false;
    return {
      length,
      cancel() {
        if (taken) return;
        taken = true;
        connection.destroy();
      },
      sendTo(res: Writable): Promise<void> {
        if (taken) return Promise.reject(new Error('object body already taken'));
        taken = true;
        return new Promise<void>((resolve) => {
          let remaining = length;
          let inFlight = 0;
          let reading = false;
          let done = false;
          /** Back in the pool, maybe serving another request already: never destroyed from here. */
          let released = false;
          /** Ends the send once: the response ended whole, or cut short by `err`. */
          const finish = (err?: Error) => {
            if (done) return;
            done = true;
            options.signal?.removeEventListener('abort', onAbort);
            res.off('close', onClientGone);
            if (err) {
              if (!released) connection.destroy();
              res.destroy(err);
            } else {
              res.end();
            }
            resolve();
          };
          const onAbort = () => finish(new Error('aborted'));
          const onClientGone = () => {
            // The client left before the end: what is still coming cannot be reused.
            if (remaining > 0 || inFlight > 0) finish(new Error('client went away'));
          };
          const endIfWritten = () => {
            if (remaining === 0 && inFlight === 0) finish();
          };
          const write = (bytes: Buffer, buffer: Buffer | undefined) => {
            inFlight += 1;
            res.write(bytes, (err) => {
              inFlight -= 1;
              // A buffer whose write failed may still be referenced: not reused.
              if (buffer && !err) giveBack(buffer);
              if (err) return finish(err);
              if (!reading && remaining > 0 && inFlight < MAX_IN_FLIGHT && !done) {
                reading = true;
                connection.socket.resume();
              }
              endIfWritten();
            });
          };
          const received = (bytes: Buffer, buffer: Buffer | undefined): boolean => {
            if (done) {
              if (buffer) giveBack(buffer);
              return false;
            }
            if (bytes.length > remaining) {
              if (buffer) giveBack(buffer);
              finish(new Error('the object server sent more bytes than it announced'));
              return false;
            }
            remaining -= bytes.length;
            if (bytes.length > 0) write(bytes, buffer);
            else if (buffer) giveBack(buffer);
            if (remaining === 0) {
              released = true;
              if (keepAlive) pool.put(connection);
              else connection.destroy();
              endIfWritten();
              // A pooled connection reads on while idle (unexpected bytes or a close end it).
              return keepAlive;
            }
            reading = inFlight < MAX_IN_FLIGHT;
            return reading;
          };
          options.signal?.addEventListener('abort', onAbort, { once: true });
          res.on('close', onClientGone);
          connection.attach(received, (err) => {
            if (remaining > 0) finish(err);
          });
          if (connection.dead && first.length < length) return finish(new Error('the object server closed the connection'));
          if (received(first, undefined) && !done) connection.socket.resume();
        });
      },
    };
  }
}
