// Raw HTTP for the fault-injection tests (test/faults/storage-*.test.ts): requests to a Berth child
// process that report what a client sees even when the server answers before the body is sent
// (a 507 mid-upload) or the connection is cut (status 0), plus a tally of 5xx answers and small
// image pushes over the registry protocol.
import { createHash } from 'node:crypto';
import http from 'node:http';

export interface Answer {
  /** 0: no answer, the connection failed or was cut */
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  error?: string;
}

/** Statuses seen, for the summary each fault test prints. */
export class Tally {
  readonly statuses: number[] = [];
  faults = 0;
  note(a: Answer): Answer {
    this.statuses.push(a.status);
    return a;
  }
  get count500(): number {
    return this.statuses.filter((s) => s === 500).length;
  }
  summary(name: string, exits: number): string {
    const by = new Map<number, number>();
    for (const s of this.statuses) by.set(s, (by.get(s) ?? 0) + 1);
    const counts = [...by.entries()].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}×${n}`).join(' ');
    return `[${name}] faults injected: ${this.faults}; requests: ${this.statuses.length} (${counts}); 500 responses: ${this.count500}; process exits: ${exits}`;
  }
}

/** One request; the body goes in 256 KiB writes and stops as soon as an answer arrives. */
export function send(
  base: string,
  method: string,
  path: string,
  options: {
    headers?: Record<string, string>;
    body?: Buffer;
    timeoutMs?: number;
    /** Runs once `at` body bytes are written (a fault injected mid-body); writing goes on after it. */
    midBody?: { at: number; run: () => Promise<void> };
  } = {},
): Promise<Answer> {
  const url = new URL(path, base);
  return new Promise((resolve) => {
    let settled = false;
    const done = (a: Answer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(a);
    };
    const body = options.body;
    const req = http.request(url, {
      method,
      headers: { ...(body ? { 'Content-Length': String(body.length) } : {}), ...options.headers },
      agent: false,
    });
    const timer = setTimeout(() => {
      req.destroy(new Error('no answer in time'));
    }, options.timeoutMs ?? 120_000);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        done({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
        req.destroy();
      });
      res.on('error', (err) => done({ status: 0, headers: {}, body: Buffer.alloc(0), error: err.message }));
    });
    req.on('error', (err) => done({ status: 0, headers: {}, body: Buffer.alloc(0), error: err.message }));
    if (!body) return void req.end();
    let at = 0;
    let midBody = options.midBody;
    const pump = () => {
      while (at < body.length && !settled) {
        if (midBody && at >= midBody.at) {
          const { run } = midBody;
          midBody = undefined;
          return void run().then(pump, (err: unknown) => req.destroy(err as Error));
        }
        const piece = body.subarray(at, at + 256 * 1024);
        at += piece.length;
        if (!req.write(piece)) return void req.once('drain', pump);
      }
      if (!settled) req.end();
    };
    pump();
  });
}

export function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export function describe(a: Answer): string {
  return `${a.status} ${a.error ?? ''} ${a.body.toString('utf8').slice(0, 300)}`;
}

/** POST, one PATCH with all the bytes, empty PUT: how docker pushes a layer. Returns the first non-success answer, or the PUT's. */
export async function pushChunked(base: string, repo: string, bytes: Buffer, tally: Tally): Promise<Answer> {
  const start = tally.note(await send(base, 'POST', `/v2/${repo}/blobs/uploads/`));
  if (start.status !== 202) return start;
  const location = String(start.headers.location);
  const patch = tally.note(await send(base, 'PATCH', location, { body: bytes, headers: { 'Content-Type': 'application/octet-stream' } }));
  if (patch.status !== 202) return { ...patch, headers: { ...patch.headers, 'x-upload-location': location } };
  const sep = location.includes('?') ? '&' : '?';
  return tally.note(await send(base, 'PUT', `${location}${sep}digest=${encodeURIComponent(sha256(bytes))}`));
}

/** POST ?digest= with the whole blob (end-4b). */
export async function pushMonolithic(base: string, repo: string, bytes: Buffer, tally: Tally): Promise<Answer> {
  return tally.note(
    await send(base, 'POST', `/v2/${repo}/blobs/uploads/?digest=${encodeURIComponent(sha256(bytes))}`, {
      body: bytes,
      headers: { 'Content-Type': 'application/octet-stream' },
    }),
  );
}

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** Pushes config + layers (chunked) and a manifest under `tag`; returns the first failing answer, or the manifest PUT's. */
export async function pushImage(base: string, repo: string, tag: string, layers: Buffer[], tally: Tally): Promise<Answer> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map(sha256) } }));
  for (const blob of [config, ...layers]) {
    const a = await pushChunked(base, repo, blob, tally);
    if (a.status !== 201) return a;
  }
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(l), size: l.length })),
    }),
  );
  return tally.note(await send(base, 'PUT', `/v2/${repo}/manifests/${tag}`, { body: manifest, headers: { 'Content-Type': OCI_MANIFEST } }));
}

/** Pulls `repo:tag` and checks every layer's bytes against `layers`; returns a problem, or undefined. */
export async function pullImageProblem(base: string, repo: string, tag: string, layers: Buffer[], tally: Tally): Promise<string | undefined> {
  const m = tally.note(await send(base, 'GET', `/v2/${repo}/manifests/${tag}`, { headers: { Accept: OCI_MANIFEST } }));
  if (m.status !== 200) return `manifest ${repo}:${tag}: ${describe(m)}`;
  const parsed = JSON.parse(m.body.toString('utf8')) as { layers: { digest: string }[] };
  for (const [i, layer] of parsed.layers.entries()) {
    const b = tally.note(await send(base, 'GET', `/v2/${repo}/blobs/${layer.digest}`));
    if (b.status !== 200) return `layer ${i}: ${describe(b)}`;
    if (sha256(b.body) !== sha256(layers[i]!)) return `layer ${i}: bytes differ`;
  }
  return undefined;
}
