// Pushes that keep going while a dependency fails under them, as a patient client would: each
// image is a config blob, a layer streamed in slow chunks and a tagged manifest; a 503 is retried
// after a pause, an interrupted upload resumes from the Range the registry reports. Every status
// is counted, and a push counts as acknowledged only when its manifest PUT answered 201.
import assert from 'node:assert/strict';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildImage, imageOf, OCI_MANIFEST, randomBlob, sha256, type TestImage } from './oci.js';

export interface AckedPush {
  registry: string;
  repo: string;
  tag: string;
  digest: string;
  blobs: { digest: string; size: number }[];
}

export interface LoadReport {
  statuses: Map<number, number>;
  /** Requests that got no HTTP answer at all (connection refused or reset). */
  networkErrors: number;
  acked: AckedPush[];
  /** Answers a patient client cannot handle (anything but 2xx, 503, a 416 telling where to resume). */
  unexpected: string[];
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

const LAYER_SIZE = 640 * 1024;
const CHUNK = 256 * 1024;
const PIECE = 16 * 1024;

export class PushLoad {
  readonly report: LoadReport = { statuses: new Map(), networkErrors: 0, acked: [], unexpected: [] };
  private stopped = false;
  private workers: Promise<void>[] = [];
  private count = 0;

  /** `registries`: base URLs; pusher i talks to registries[i % n] (replicas behind a balancer). */
  constructor(private readonly registries: string[], private readonly repo: string) {}

  start(pushers: number): void {
    for (let i = 0; i < pushers; i++) this.workers.push(this.run(this.registries[i % this.registries.length]!, i));
  }

  /** Lets every push in progress finish (it retries until the registry serves again). */
  async stop(): Promise<LoadReport> {
    this.stopped = true;
    await Promise.all(this.workers);
    this.workers = [];
    this.stopped = false;
    return this.report;
  }

  private async run(base: string, worker: number): Promise<void> {
    while (!this.stopped) {
      const tag = `w${worker}-${this.count++}`;
      const image = imageOf(buildImage({ layers: 0 }).config, [randomBlob(LAYER_SIZE)]);
      try {
        await this.pushImage(base, tag, image);
      } catch (err) {
        this.report.unexpected.push(`${tag}: ${(err as Error).message}`);
      }
    }
  }

  private async pushImage(base: string, tag: string, image: TestImage): Promise<void> {
    const [config, layer] = [image.config, image.layers[0]!];
    // The config in one request (end-4b), the layer in streamed chunks (end-5, end-6).
    await this.retry(() => this.request(base, 'POST', `/v2/${this.repo}/blobs/uploads/?digest=${sha256(config)}`, [config]), [201]);
    await this.pushChunked(base, layer);
    const path = `/v2/${this.repo}/manifests/${tag}`;
    const res = await this.retry(() => this.request(base, 'PUT', path, [image.manifest], { 'Content-Type': OCI_MANIFEST }), [201]);
    this.report.acked.push({
      registry: base,
      repo: this.repo,
      tag,
      digest: String(res.headers['docker-content-digest']),
      blobs: [config, layer].map((b) => ({ digest: sha256(b), size: b.length })),
    });
  }

  private async pushChunked(base: string, blob: Buffer): Promise<void> {
    const started = await this.retry(() => this.request(base, 'POST', `/v2/${this.repo}/blobs/uploads/`, []), [202]);
    const location = new URL(String(started.headers.location), base);
    const at = () => location.pathname + location.search;
    let offset = 0;
    while (offset < blob.length) {
      const chunk = blob.subarray(offset, Math.min(offset + CHUNK, blob.length));
      const res = await this.request(base, 'PATCH', at(), pieces(chunk), {
        'Content-Type': 'application/octet-stream',
        'Content-Range': `${offset}-${offset + chunk.length - 1}`,
        'Content-Length': String(chunk.length),
      }, true);
      if (res.status === 202) {
        offset += chunk.length;
        continue;
      }
      if (res.status !== 503 && res.status !== 416 && res.status !== 0) throw new Error(`PATCH answered ${res.status}: ${res.body}`);
      // Interrupted: ask where the upload stands, as a client resuming does (end-13).
      const status = await this.retry(() => this.request(base, 'GET', at(), []), [204]);
      // "0-0" is both no byte and one byte; offsets here are whole chunks, so it is none.
      const end = rangeEnd(String(status.headers.range));
      offset = end === 0 ? 0 : end + 1;
    }
    const sep = location.search ? '&' : '?';
    const digest = sha256(blob);
    const closed = await this.retry(() => this.request(base, 'PUT', `${at()}${sep}digest=${digest}`, []), [201, 404]);
    // 404: an earlier try committed the blob but its answer was lost; the blob must be there.
    if (closed.status === 404) await this.retry(() => this.request(base, 'HEAD', `/v2/${this.repo}/blobs/${digest}`, []), [200]);
  }

  /** Repeats `send` while the registry answers 503 (or not at all); anything else not in `ok` throws. */
  private async retry(send: () => Promise<Answer>, ok: number[]): Promise<Answer> {
    const deadline = Date.now() + 120_000;
    for (;;) {
      const res = await send();
      if (ok.includes(res.status)) return res;
      if ((res.status !== 503 && res.status !== 0) || Date.now() > deadline) {
        throw new Error(`answered ${res.status} (wanted ${ok.join('/')}): ${res.body.toString().slice(0, 300)}`);
      }
      await sleep(100);
    }
  }

  /** One request; status 0 when the connection failed. `slow`: the body trickles in pieces. */
  private async request(base: string, method: string, path: string, body: Buffer[], headers: Record<string, string> = {}, slow = false): Promise<Answer> {
    const url = new URL(path, base);
    const answer = await new Promise<Answer>((resolve) => {
      const req = http.request(url, { method, headers: { 'Content-Length': String(body.reduce((n, b) => n + b.length, 0)), ...headers }, agent: false });
      req.setTimeout(60_000, () => req.destroy(new Error('no answer within 60 s')));
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', () => resolve({ status: 0, headers: {}, body: Buffer.alloc(0) }));
      });
      req.on('error', () => resolve({ status: 0, headers: {}, body: Buffer.alloc(0) }));
      void (async () => {
        for (const piece of body) {
          if (req.destroyed) return;
          req.write(piece);
          if (slow) await sleep(10);
        }
        req.end();
      })();
    });
    if (answer.status === 0) this.report.networkErrors += 1;
    else this.report.statuses.set(answer.status, (this.report.statuses.get(answer.status) ?? 0) + 1);
    return answer;
  }
}

function pieces(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += PIECE) out.push(bytes.subarray(i, i + PIECE));
  return out;
}

/** The last byte the registry holds, from `Range: 0-<end>` (-1 when it holds none). */
function rangeEnd(range: string): number {
  const m = /^0-(\d+)$/.exec(range);
  assert.ok(m, `upload status without a usable Range: ${range}`);
  return Number(m[1]);
}

const MANIFEST_ACCEPT = 'application/vnd.oci.image.manifest.v1+json';

/** Every acknowledged push pulls back from `base`: the tag gives its digest, each blob its bytes. Returns how many did not. */
export async function lostPushes(base: string, acked: AckedPush[]): Promise<string[]> {
  const lost: string[] = [];
  for (const push of acked) {
    const manifest = await fetch(`${base}/v2/${push.repo}/manifests/${push.tag}`, { headers: { Accept: MANIFEST_ACCEPT } });
    const bytes = Buffer.from(await manifest.arrayBuffer());
    if (manifest.status !== 200 || sha256(bytes) !== push.digest) {
      lost.push(`${push.repo}:${push.tag} → ${manifest.status} ${manifest.status === 200 ? sha256(bytes) : bytes.toString().slice(0, 200)}`);
      continue;
    }
    for (const blob of push.blobs) {
      const problem = await blobProblem(base, push.repo, blob.digest);
      if (problem) lost.push(`${push.repo}:${push.tag} ${problem}`);
    }
  }
  return lost;
}

/** Every tag the repository shows, whoever pushed it: its manifest and every blob it names pull whole. */
export async function partialTags(base: string, repo: string): Promise<string[]> {
  const list = await fetch(`${base}/v2/${repo}/tags/list?n=10000`);
  if (list.status === 404) return [];
  assert.equal(list.status, 200, `tags list answered ${list.status}`);
  const { tags } = (await list.json()) as { tags: string[] | null };
  const problems: string[] = [];
  for (const tag of tags ?? []) {
    const res = await fetch(`${base}/v2/${repo}/manifests/${tag}`, { headers: { Accept: MANIFEST_ACCEPT } });
    if (res.status !== 200) {
      problems.push(`${tag}: manifest ${res.status}`);
      continue;
    }
    const manifest = (await res.json()) as { config: { digest: string }; layers: { digest: string }[] };
    for (const d of [manifest.config, ...manifest.layers]) {
      const problem = await blobProblem(base, repo, d.digest);
      if (problem) problems.push(`${tag}: ${problem}`);
    }
  }
  return problems;
}

async function blobProblem(base: string, repo: string, digest: string): Promise<string | undefined> {
  const res = await fetch(`${base}/v2/${repo}/blobs/${digest}`);
  const bytes = Buffer.from(await res.arrayBuffer());
  if (res.status !== 200) return `blob ${digest} → ${res.status}`;
  return sha256(bytes) === digest ? undefined : `blob ${digest} has other bytes (${sha256(bytes)})`;
}

/** Polls `url` until it answers 200; the milliseconds that took. */
export async function msUntilServing(url: string, timeoutMs = 60_000): Promise<number> {
  const started = Date.now();
  for (;;) {
    const status = await fetch(url, { signal: AbortSignal.timeout(10_000) }).then(
      async (r) => (await r.arrayBuffer(), r.status),
      () => 0,
    );
    if (status === 200) return Date.now() - started;
    if (Date.now() - started > timeoutMs) throw new Error(`${url} not serving ${timeoutMs} ms after the database came back (last ${status})`);
    await sleep(50);
  }
}
