// The one HTTP client every figure uses: node:http with a keep-alive agent, bodies written
// straight from memory, response bodies either collected (small) or counted and dropped (blobs).
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';

export const MT = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
};

export const MANIFEST_ACCEPT = [MT.ociManifest, MT.ociIndex, MT.dockerManifest, MT.dockerList].join(', ');

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** the body when collected */
  body: Buffer;
  /** bytes received */
  bytes: number;
}

export interface RequestOptions {
  headers?: Record<string, string>;
  /** sent as-is, parts in order; Content-Length is set from their sizes */
  body?: Buffer | readonly Buffer[];
  /** collect (default) or count-and-drop the response body */
  discard?: boolean;
  timeoutMs?: number;
}

export function sha256(parts: Buffer | readonly Buffer[]): string {
  const h = createHash('sha256');
  for (const p of Array.isArray(parts) ? parts : [parts as Buffer]) h.update(p);
  return `sha256:${h.digest('hex')}`;
}

export class HttpError extends Error {
  constructor(
    message: string,
    readonly answer: Answer,
  ) {
    super(message);
  }
}

export class Client {
  readonly agent: http.Agent;

  constructor(readonly base: string, maxSockets = 64) {
    const u = new URL(base);
    if (u.hostname !== '127.0.0.1' && u.hostname !== 'localhost' && u.hostname !== '[::1]') {
      throw new Error(`the bench only talks to this machine, not ${u.hostname}`);
    }
    this.agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  }

  close(): void {
    this.agent.destroy();
  }

  /** A path or absolute URL (Location headers may be either) against this client's base. */
  url(pathOrUrl: string): URL {
    const u = new URL(pathOrUrl, this.base);
    const b = new URL(this.base);
    if (u.host !== b.host) throw new Error(`refusing to follow ${u.href} off ${b.host}`);
    return u;
  }

  async request(method: string, pathOrUrl: string, opts: RequestOptions = {}): Promise<Answer> {
    const u = this.url(pathOrUrl);
    const parts = opts.body === undefined ? [] : Array.isArray(opts.body) ? (opts.body as readonly Buffer[]) : [opts.body as Buffer];
    const length = parts.reduce((a, p) => a + p.length, 0);
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.body !== undefined || method === 'PUT' || method === 'PATCH' || method === 'POST') headers['Content-Length'] = String(length);
    const req = http.request({
      agent: this.agent,
      host: u.hostname,
      port: u.port,
      method,
      path: u.pathname + u.search,
      headers,
    });
    const timeout = setTimeout(() => req.destroy(new Error(`${method} ${u.pathname} timed out after ${opts.timeoutMs ?? 300_000} ms`)), opts.timeoutMs ?? 300_000);
    try {
      const answered = new Promise<http.IncomingMessage>((resolve, reject) => {
        req.once('response', resolve);
        req.once('error', reject);
      });
      for (const p of parts) {
        if (!req.write(p)) await Promise.race([once(req, 'drain'), answered]);
      }
      req.end();
      const res = await answered;
      const chunks: Buffer[] = [];
      let bytes = 0;
      for await (const c of res as AsyncIterable<Buffer>) {
        bytes += c.length;
        if (!opts.discard) chunks.push(c);
      }
      return { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), bytes };
    } finally {
      clearTimeout(timeout);
    }
  }

  /** request() that throws unless the status is one of `ok`. */
  async expect(ok: number | number[], method: string, pathOrUrl: string, opts: RequestOptions = {}): Promise<Answer> {
    const a = await this.request(method, pathOrUrl, opts);
    const list = Array.isArray(ok) ? ok : [ok];
    if (!list.includes(a.status)) {
      throw new HttpError(`${method} ${pathOrUrl} → ${a.status} (wanted ${list.join('/')}): ${a.body.toString('utf8').slice(0, 500)}`, a);
    }
    return a;
  }

  async startUpload(repo: string): Promise<string> {
    const a = await this.expect(202, 'POST', `/v2/${repo}/blobs/uploads/`);
    const loc = a.headers.location;
    if (!loc) throw new Error(`POST upload on ${repo}: no Location`);
    return loc;
  }

  /** POST, then one PUT ?digest= carrying the whole body. */
  async pushMonolithic(repo: string, parts: readonly Buffer[], digest: string): Promise<void> {
    const loc = await this.startUpload(repo);
    await this.expect(201, 'PUT', withQuery(this.url(loc), { digest }), {
      body: parts,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
  }

  /** POST, PATCHes of `chunk` bytes with Content-Range, then PUT ?digest= with no body. */
  async pushChunked(repo: string, data: Buffer, digest: string, chunk: number): Promise<void> {
    let loc = await this.startUpload(repo);
    for (let off = 0; off < data.length; off += chunk) {
      const part = data.subarray(off, Math.min(data.length, off + chunk));
      const a = await this.expect(202, 'PATCH', this.url(loc).href, {
        body: part,
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${off}-${off + part.length - 1}` },
      });
      loc = a.headers.location ?? loc;
    }
    await this.expect(201, 'PUT', withQuery(this.url(loc), { digest }));
  }

  /** GET a blob, count and drop the bytes; returns the byte count. */
  async pull(repo: string, digest: string): Promise<number> {
    const a = await this.expect(200, 'GET', `/v2/${repo}/blobs/${digest}`, { discard: true });
    return a.bytes;
  }

  async putManifest(repo: string, ref: string, bytes: Buffer, mediaType = MT.ociManifest): Promise<void> {
    await this.expect(201, 'PUT', `/v2/${repo}/manifests/${ref}`, { body: bytes, headers: { 'Content-Type': mediaType } });
  }

  /** A small image as a client pushes it: per blob HEAD (absent) → POST → PUT, then the manifest. */
  async pushImage(repo: string, tag: string, img: SmallImage): Promise<void> {
    for (const b of img.blobs) {
      const h = await this.request('HEAD', `/v2/${repo}/blobs/${b.digest}`, { discard: true });
      if (h.status === 200) continue;
      await this.pushMonolithic(repo, [b.bytes], b.digest);
    }
    await this.putManifest(repo, tag, img.manifest);
  }
}

export function withQuery(u: URL, params: Record<string, string>): string {
  const n = new URL(u.href);
  for (const [k, v] of Object.entries(params)) n.searchParams.set(k, v);
  return n.href;
}

export interface SmallImage {
  blobs: Array<{ digest: string; bytes: Buffer }>;
  manifest: Buffer;
  digest: string;
}

/** A unique image: an OCI config (JSON) and random layers of the given sizes. */
export function makeImage(layerSizes: readonly number[], label: string): SmallImage {
  const layers = layerSizes.map((n) => {
    const bytes = randomBytes(n);
    return { digest: sha256(bytes), bytes };
  });
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      created: new Date().toISOString(),
      config: { Labels: { 'berth.bench': label } },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
    }),
  );
  const cfg = { digest: sha256(config), bytes: config };
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { mediaType: MT.ociConfig, digest: cfg.digest, size: config.length },
      layers: layers.map((l) => ({ mediaType: MT.ociLayer, digest: l.digest, size: l.bytes.length })),
    }),
  );
  return { blobs: [cfg, ...layers], manifest, digest: sha256(manifest) };
}

/** Runs `fn` over `items` with at most `n` in flight. */
export async function pool<T>(items: readonly T[], n: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
}
