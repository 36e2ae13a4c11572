// An upstream registry for the pull-through cache tests and the benchmark: CNCF Distribution
// (Debian's docker-registry) with htpasswd (Basic) authentication, behind a small HTTP front on
// 127.0.0.1 that logs every request it forwards (the upstream's request log as Berth causes it)
// and can inject faults: answer 429 or 503, hold requests unanswered, refuse connections, or cut
// blob bodies short. With a `link` set, the front also stands in for the network between a site
// and a remote registry (the benchmark's question is whether a cache in the middle slows a pull
// down, which loopback cannot answer): each request waits one round trip before it is forwarded,
// and every response body shares one paced uplink.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline, Transform } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, killOnExit } from './child-processes.js';
import { sha256, type TestImage } from './oci.js';
import { runOk, toolPath } from './system-tools.js';

export const UPSTREAM_TOOLS = ['docker-registry', 'htpasswd'];

export type FrontMode = 'pass' | '429' | '503' | 'hang' | 'down' | 'cut' | 'hold' | 'corrupt';

/**
 * Bytes of a blob body the front forwards in `cut` mode before it resets the connection, and in
 * `hold` mode before it holds the rest until release() (or another mode). `corrupt` flips a byte
 * of every blob body it forwards.
 */
export const CUT_AFTER_BYTES = 256 * 1024;

/** An emulated network link between the front's clients and the registry behind it. */
export interface Link {
  /** The rate of all the front's response bodies together (one shared uplink). */
  mibPerSecond: number;
  /** Each request waits this long before it is forwarded: one round trip before the answer's first byte. */
  rttMs: number;
}

/** The smallest burst of the link: bytes it may send ahead of its rate. */
const LINK_MIN_BURST_BYTES = 64 * 1024;
/**
 * Node's timers fire no finer than ~1 ms, and each wake-up costs the front CPU the bodies then
 * lack: a burst is at least this much of the link's time.
 */
const LINK_MIN_BURST_MS = 2;

/**
 * A link's shared schedule (a token bucket kept as a clock): a body takes the link a burst at a
 * time, each burst booked after everything booked before it, and sends it once its turn has come.
 * Bursts are served in the order they were asked for, so parallel bodies share the rate.
 */
class PacedLink {
  private readonly bytesPerMs: number;
  private readonly burstBytes: number;
  /** When the link will have sent every burst booked so far. */
  private busyUntil = 0;

  constructor(readonly link: Link) {
    this.bytesPerMs = (link.mibPerSecond * 1024 * 1024) / 1000;
    this.burstBytes = Math.ceil(Math.max(LINK_MIN_BURST_BYTES, this.bytesPerMs * LINK_MIN_BURST_MS));
  }

  /** Books a burst: milliseconds until its turn. */
  private book(): number {
    const now = performance.now();
    const turn = Math.max(this.busyUntil, now);
    this.busyUntil = turn + this.burstBytes / this.bytesPerMs;
    return turn - now;
  }

  /** Gives back what a body booked and did not send (it ended within its last burst). */
  private unbook(bytes: number): void {
    this.busyUntil -= bytes / this.bytesPerMs;
  }

  /** A pass-through stream that releases bytes at the link's pace; `pipe` carries backpressure both ways. */
  body(): Transform {
    /** Bytes of this body's last booked burst not sent yet. */
    let allowed = 0;
    const release = async (chunk: Buffer): Promise<void> => {
      for (let at = 0; at < chunk.length; ) {
        if (allowed === 0) {
          const wait = this.book();
          if (wait > 0) await sleep(wait);
          allowed = this.burstBytes;
        }
        const piece = chunk.subarray(at, at + allowed);
        paced.push(piece);
        at += piece.length;
        allowed -= piece.length;
      }
    };
    const paced: Transform = new Transform({
      // Read ahead of the link like a sender's socket buffer: a burst goes out of what is
      // buffered, and the upstream's socket is not paused and resumed for every chunk.
      writableHighWaterMark: 1024 * 1024,
      transform: (chunk: Buffer, _encoding, done) => void release(chunk).then(() => done(), done),
      flush: (done) => {
        this.unbook(allowed);
        done();
      },
    });
    return paced;
  }
}

export interface LoggedRequest {
  method: string;
  path: string;
  status: number;
}

export interface Upstream {
  /** The front's URL: what Berth is configured with. */
  readonly url: string;
  /** Distribution's own URL (no front): pushes from the test and the bench's direct pulls. */
  readonly directUrl: string;
  readonly credentials: { username: string; password: string };
  /** What the front does with the next requests. */
  mode: FrontMode;
  /** The emulated link of the next requests (undefined: loopback as it is). Pacing applies in `pass` mode. */
  link: Link | undefined;
  /** Requests forwarded or refused by the front since the last clearLog(). */
  readonly log: LoggedRequest[];
  clearLog(): void;
  /** Requests with this method whose path contains `pathPart`, not counting 401 challenges (authentication, not transfers). */
  count(method: string, pathPart: string): number;
  /** The Authorization header a client of directUrl sends. */
  authorization(): string;
  push(repo: string, tag: string, image: TestImage, mediaType?: string): Promise<void>;
  /** In `hold` mode: lets the held blob bodies go on. */
  release(): void;
  /** Stops the Distribution process (the front keeps answering: connections then fail). */
  stopRegistry(): Promise<void>;
  startRegistry(): Promise<void>;
  destroy(): Promise<void>;
}

export async function startUpstream(options: { username?: string; password?: string; link?: Link } = {}): Promise<Upstream> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-upstream-'));
  const credentials = { username: options.username ?? 'mirror', password: options.password ?? 'upstream-secret-1' };
  const htpasswd = await runOk(toolPath('htpasswd'), ['-Bbn', credentials.username, credentials.password]);
  writeFileSync(join(dir, 'htpasswd'), htpasswd.stdout.trim() + '\n');
  const port = await freePort();
  const config = join(dir, 'config.yml');
  writeFileSync(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: warn',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(dir, 'registry')}`,
      '  delete:',
      '    enabled: true',
      '  maintenance:',
      '    uploadpurging:',
      '      enabled: false',
      'auth:',
      '  htpasswd:',
      '    realm: upstream',
      `    path: ${join(dir, 'htpasswd')}`,
      'http:',
      `  addr: 127.0.0.1:${port}`,
      `  secret: ${createHash('sha256').update(dir).digest('hex')}`,
      '',
    ].join('\n'),
  );
  const directUrl = `http://127.0.0.1:${port}`;
  const authorization = () => `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;

  let child: ChildProcess | undefined;
  let output = '';
  const startRegistry = async () => {
    output = '';
    child = spawn(toolPath('docker-registry'), ['serve', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    killOnExit(child);
    child.stdout?.on('data', (b: Buffer) => (output = (output + b.toString()).slice(-8000)));
    child.stderr?.on('data', (b: Buffer) => (output = (output + b.toString()).slice(-8000)));
    const deadline = Date.now() + 20_000;
    for (;;) {
      const status = await fetch(`${directUrl}/v2/`).then((r) => r.status, () => 0);
      if (status === 401) return;
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`docker-registry did not start (last status ${status})\n${output}`);
      await sleep(100);
    }
  };
  const stopRegistry = async () => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((resolve) => c.once('exit', resolve));
    c.kill('SIGTERM');
    await Promise.race([exited, sleep(10_000).then(() => c.kill('SIGKILL'))]);
    await exited;
  };
  await startRegistry();

  const log: LoggedRequest[] = [];
  const state = { mode: 'pass' as FrontMode, link: options.link ? new PacedLink(options.link) : undefined };
  const held = new Set<http.ServerResponse>();
  /** Blob bodies paused in `hold` mode: each goes on when called. */
  const holding = new Set<() => void>();
  const release = (): void => {
    const waiting = [...holding];
    holding.clear();
    for (const go of waiting) go();
  };
  const sockets = new Set<Socket>();
  const front = http.createServer((req, res) => {
    const entry = { method: req.method ?? '', path: req.url ?? '', status: 0 };
    log.push(entry);
    if (state.mode === 'down') {
      entry.status = -1;
      req.socket.destroy();
      return;
    }
    if (state.mode === 'hang') {
      held.add(res);
      return;
    }
    if (state.mode === '429' || state.mode === '503') {
      entry.status = Number(state.mode);
      res.writeHead(entry.status, { 'Content-Type': 'application/json', ...(state.mode === '429' ? { 'Retry-After': '7' } : {}) });
      res.end(JSON.stringify({ errors: [{ code: state.mode === '429' ? 'TOOMANYREQUESTS' : 'UNAVAILABLE', message: 'injected' }] }));
      return;
    }
    const link = state.link;
    if (link) void sleep(link.link.rttMs).then(() => forward(req, res, entry, link));
    else forward(req, res, entry, undefined);
  });
  function forward(req: http.IncomingMessage, res: http.ServerResponse, entry: LoggedRequest, link: PacedLink | undefined): void {
    const upstreamReq = http.request(`${directUrl}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
      entry.status = answer.statusCode ?? 0;
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      if (state.mode === 'cut' && req.method === 'GET' && req.url?.includes('/blobs/')) {
        let sent = 0;
        answer.on('data', (chunk: Buffer) => {
          if (sent >= CUT_AFTER_BYTES) return;
          res.write(chunk.subarray(0, CUT_AFTER_BYTES - sent));
          sent += chunk.length;
          if (sent >= CUT_AFTER_BYTES) {
            entry.status = -2;
            answer.destroy();
            res.socket?.resetAndDestroy();
          }
        });
        return;
      }
      const blobGet = req.method === 'GET' && req.url?.includes('/blobs/') && answer.statusCode === 200;
      if (blobGet && state.mode === 'hold') {
        let sent = 0;
        let held = false;
        const onData = (chunk: Buffer): void => {
          const now = chunk.subarray(0, Math.max(0, CUT_AFTER_BYTES - sent));
          sent += chunk.length;
          if (now.length > 0) res.write(now);
          if (now.length === chunk.length) return;
          held = true;
          answer.off('data', onData);
          answer.pause();
          const rest = chunk.subarray(now.length);
          holding.add(() => {
            res.write(rest);
            if (link) pipeline(answer, link.body(), res, () => undefined);
      else answer.pipe(res);
          });
        };
        answer.on('data', onData);
        answer.on('end', () => {
          if (!held) res.end();
        });
        return;
      }
      if (blobGet && state.mode === 'corrupt') {
        let first = true;
        answer.on('data', (chunk: Buffer) => {
          if (first) chunk[0] = chunk[0]! ^ 0xff;
          first = false;
          res.write(chunk);
        });
        answer.on('end', () => res.end());
        return;
      }
      if (link) pipeline(answer, link.body(), res, () => undefined);
      else answer.pipe(res);
    });
    upstreamReq.on('error', () => {
      entry.status = -1;
      res.socket?.destroy();
    });
    req.pipe(upstreamReq);
  }
  front.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(front.address() as AddressInfo).port}`;

  async function send(method: string, path: string, body?: Buffer, contentType?: string): Promise<Response> {
    const res = await fetch(path.startsWith('http') ? path : `${directUrl}${path}`, {
      method,
      headers: { Authorization: authorization(), ...(contentType ? { 'Content-Type': contentType } : {}) },
      body: body ? new Uint8Array(body) : undefined,
    });
    if (res.status >= 300) throw new Error(`upstream ${method} ${path} → ${res.status} ${await res.text()}`);
    return res;
  }

  return {
    url,
    directUrl,
    credentials,
    get mode() {
      return state.mode;
    },
    get link() {
      return state.link?.link;
    },
    set link(l: Link | undefined) {
      state.link = l ? new PacedLink(l) : undefined;
    },
    set mode(m: FrontMode) {
      state.mode = m;
      if (m !== 'hang') {
        for (const r of held) r.socket?.destroy();
        held.clear();
      }
      if (m !== 'hold') release();
    },
    log,
    clearLog: () => void log.splice(0),
    release,
    count: (method, pathPart) => log.filter((l) => l.method === method && l.path.includes(pathPart) && l.status !== 401).length,
    authorization,
    async push(repo, tag, image, mediaType) {
      for (const blob of [image.config, ...image.layers]) {
        const digest = sha256(blob);
        const head = await fetch(`${directUrl}/v2/${repo}/blobs/${digest}`, { method: 'HEAD', headers: { Authorization: authorization() } });
        if (head.status === 200) continue;
        const post = await send('POST', `/v2/${repo}/blobs/uploads/`);
        const location = new URL(post.headers.get('location')!, directUrl);
        location.searchParams.set('digest', digest);
        await send('PUT', location.toString(), blob, 'application/octet-stream');
      }
      const type = mediaType ?? (JSON.parse(image.manifest.toString()) as { mediaType: string }).mediaType;
      await send('PUT', `/v2/${repo}/manifests/${tag}`, image.manifest, type);
    },
    stopRegistry,
    startRegistry,
    async destroy() {
      state.mode = 'pass';
      for (const r of held) r.socket?.destroy();
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => front.close(resolve));
      await stopRegistry();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
