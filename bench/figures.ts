// The HTTP figures: each runs the same workload, from the same client, against every registry,
// interleaving the registries run by run (B D, D B, …) so that background noise hits both alike.
import { randomBytes } from 'node:crypto';
import { Client, MANIFEST_ACCEPT, makeImage, pool, sha256, type SmallImage } from './lib/client.js';
import { load, type LoadResult } from './lib/load.js';
import { cpuMeter, type MemSampler, type RegistryName, type RegistryProc } from './lib/procs.js';
import { MiB, spread, type Spread } from './lib/stats.js';

export interface Settings {
  /** counted runs of each throughput figure (≥ 5 for a real run) */
  runs: number;
  /** seconds of each manifest load run */
  loadSeconds: number;
  loadConnections: number;
  /** bytes of the push/pull blob */
  blobBytes: number;
  chunkBytes: number;
  images: number;
  imageConcurrency: number;
  imageLayerSizes: number[];
  tags: number;
  tagConcurrency: number;
  tagPage: number;
  /** bytes of the big blob for the memory figure */
  bigBlobBytes: number;
}

export interface Ctx {
  settings: Settings;
  regs: RegistryProc[];
  clients: Map<RegistryName, Client>;
  sampler: MemSampler;
  /** the random blob, generated once; its first 16 bytes are rewritten to make each push unique */
  data: Buffer;
  log: (s: string) => void;
  notes: string[];
}

export type PerRegistry<T> = Partial<Record<RegistryName, T>>;

let uniq = 0;
/** Rewrites the head of the shared buffer so this push's content is new; returns its digest. */
function freshen(data: Buffer): string {
  data.writeUInt32BE(++uniq, 0);
  randomBytes(12).copy(data, 4);
  return sha256(data);
}

export interface Measured {
  values: PerRegistry<number[]>;
  /** CPU seconds the registry (Berth: node + its PostgreSQL) used during each counted run */
  cpu: PerRegistry<number[]>;
}

/**
 * Calls fn for every registry, warmups + runs times, alternating which registry goes first.
 * Returns the values of the counted runs per registry, and the CPU each registry used in them.
 */
async function interleaved(
  ctx: Ctx,
  warmups: number,
  runs: number,
  fn: (reg: RegistryProc, client: Client, run: number) => Promise<number>,
): Promise<Measured> {
  const out: Measured = { values: {}, cpu: {} };
  for (let i = 0; i < warmups + runs; i++) {
    const order = i % 2 === 0 ? ctx.regs : [...ctx.regs].reverse();
    for (const reg of order) {
      const meter = cpuMeter(reg);
      const v = await fn(reg, ctx.clients.get(reg.name)!, i);
      const used = meter();
      if (i >= warmups) {
        (out.values[reg.name] ??= []).push(v);
        (out.cpu[reg.name] ??= []).push(used);
      }
    }
  }
  return out;
}

export function spreads(v: PerRegistry<number[]>, scale = 1): PerRegistry<Spread> {
  const o: PerRegistry<Spread> = {};
  for (const [k, vals] of Object.entries(v) as Array<[RegistryName, number[]]>) o[k] = spread(vals.map((x) => x * scale));
  return o;
}

/** A figure: the measured values and the registry's CPU time per unit of work. */
export interface Fig {
  value: PerRegistry<Spread>;
  cpu: PerRegistry<Spread>;
}

function fig(m: Measured, cpuScale: number): Fig {
  return { value: spreads(m.values), cpu: spreads(m.cpu, cpuScale) };
}

function secs(t0: number): number {
  return (performance.now() - t0) / 1000;
}

export interface BlobFigures {
  /** MiB/s; cpu: CPU seconds per GiB */
  mono: Fig;
  chunked: Fig;
  pull: Fig;
}

/** Figures 1–3: monolithic push, chunked push, pull of the random blob → MiB/s. */
export async function blobFigures(ctx: Ctx): Promise<BlobFigures> {
  const { data, settings: s } = ctx;
  const mb = data.length / MiB;
  ctx.sampler.phase('1 blob push, monolithic');
  ctx.log(`figure 1: monolithic push of ${mb} MiB, ${s.runs} runs + 1 warm-up`);
  const lastPushed = new Map<RegistryName, string>();
  const mono = await interleaved(ctx, 1, s.runs, async (reg, c) => {
    const digest = freshen(data);
    const t0 = performance.now();
    await c.pushMonolithic('bench/mono', [data], digest);
    lastPushed.set(reg.name, digest);
    return mb / secs(t0);
  });

  ctx.sampler.phase('2 blob push, chunked');
  ctx.log(`figure 2: chunked push (${s.chunkBytes / MiB} MiB PATCHes), ${s.runs} runs + 1 warm-up`);
  const chunked = await interleaved(ctx, 1, s.runs, async (_reg, c) => {
    const digest = freshen(data);
    const t0 = performance.now();
    await c.pushChunked('bench/chunked', data, digest, s.chunkBytes);
    return mb / secs(t0);
  });

  ctx.sampler.phase('3 blob pull');
  ctx.log(`figure 3: pull of ${mb} MiB, ${s.runs} runs + 1 warm-up`);
  const pull = await interleaved(ctx, 1, s.runs, async (reg, c) => {
    const digest = lastPushed.get(reg.name)!;
    const t0 = performance.now();
    const n = await c.pull('bench/mono', digest);
    const t = secs(t0);
    if (n !== data.length) throw new Error(`${reg.name}: pulled ${n} bytes, expected ${data.length}`);
    return mb / t;
  });
  const perGiB = 1024 / mb;
  return { mono: fig(mono, perGiB), chunked: fig(chunked, perGiB), pull: fig(pull, perGiB) };
}

export interface LoadStats {
  rps: PerRegistry<Spread>;
  p50: PerRegistry<Spread>;
  p99: PerRegistry<Spread>;
  /** registry CPU µs per answered request */
  cpu: PerRegistry<Spread>;
}

export interface LoadFigures {
  get: LoadStats;
  head: LoadStats;
}

function checkLoad(ctx: Ctx, who: string, r: LoadResult): void {
  if (r.non2xx > 0 || r.errors > 0 || r.timeouts > 0) {
    ctx.notes.push(`${who}: ${r.non2xx} non-2xx answers, ${r.errors} errors, ${r.timeouts} timeouts (${r.ok} ok)`);
  }
}

type LoadRun = LoadResult & { cpuUs: number };

function collectLoad(results: PerRegistry<LoadRun[]>): LoadStats {
  const pick = (f: (r: LoadRun) => number) => {
    const o: PerRegistry<Spread> = {};
    for (const [k, rs] of Object.entries(results) as Array<[RegistryName, LoadRun[]]>) o[k] = spread(rs.map(f));
    return o;
  };
  return { rps: pick((r) => r.rps), p50: pick((r) => r.p50), p99: pick((r) => r.p99), cpu: pick((r) => r.cpuUs) };
}

/** Figure 4: manifest GET and HEAD by tag, fixed concurrency for a fixed time. */
export async function manifestLoad(ctx: Ctx, img: SmallImage): Promise<LoadFigures> {
  const s = ctx.settings;
  for (const reg of ctx.regs) await ctx.clients.get(reg.name)!.pushImage('bench/manifest', 'latest', img);
  ctx.sampler.phase('4 manifest GET/HEAD load');
  ctx.log(`figure 4: manifest GET and HEAD by tag, ${s.loadConnections} connections × ${s.loadSeconds} s, ${s.runs} runs each + 2 s warm-up`);
  const results: Record<'GET' | 'HEAD', PerRegistry<LoadRun[]>> = { GET: {}, HEAD: {} };
  for (let i = -1; i < s.runs; i++) {
    const order = i % 2 === 0 ? ctx.regs : [...ctx.regs].reverse();
    for (const reg of order) {
      for (const method of ['GET', 'HEAD'] as const) {
        const meter = cpuMeter(reg);
        const r = await load({
          url: `${reg.url}/v2/bench/manifest/manifests/latest`,
          method,
          headers: { Accept: MANIFEST_ACCEPT },
          connections: s.loadConnections,
          seconds: i < 0 ? 2 : s.loadSeconds,
        });
        checkLoad(ctx, `figure 4 ${reg.name} ${method}${i < 0 ? ' (warm-up)' : ` run ${i + 1}`}`, r);
        const cpuUs = r.ok > 0 ? (meter() / r.ok) * 1e6 : NaN;
        if (i >= 0) (results[method][reg.name] ??= []).push({ ...r, cpuUs });
      }
    }
  }
  return { get: collectLoad(results.GET), head: collectLoad(results.HEAD) };
}

/** Figure 5: small unique images (config + layers + manifest) at fixed concurrency → images/s. */
/** images/s; cpu: CPU ms per image */
export async function smallImages(ctx: Ctx): Promise<Fig> {
  const s = ctx.settings;
  ctx.sampler.phase('5 small image pushes');
  ctx.log(`figure 5: ${s.images} image pushes at concurrency ${s.imageConcurrency}, ${s.runs} runs + 1 warm-up`);
  let images: SmallImage[] = [];
  let imagesRun = -1;
  const v = await interleaved(ctx, 1, s.runs, async (_reg, c, run) => {
    if (imagesRun !== run) {
      // new content for each run (both registries get this run's set), made before the clock starts
      images = Array.from({ length: s.images }, (_, i) => makeImage(s.imageLayerSizes, `r${run}-i${i}`));
      imagesRun = run;
    }
    const repo = `bench/small-${run}`;
    const t0 = performance.now();
    await pool(images, s.imageConcurrency, async (img, i) => c.pushImage(repo, `v${i}`, img));
    return s.images / secs(t0);
  });
  return fig(v, 1000 / s.images);
}

export interface TagFigures {
  setup: PerRegistry<Spread>;
  /** ms; cpu: CPU ms per listing */
  whole: Fig;
  paged: Fig;
  pages: PerRegistry<number>;
}

function tagName(i: number): string {
  return `t${String(i).padStart(5, '0')}`;
}

/** Figure 6: a repository with many tags, listed whole and page by page. */
export async function tagList(ctx: Ctx): Promise<TagFigures> {
  const s = ctx.settings;
  const repo = 'bench/tags';
  const img = makeImage([1024], 'tags');
  ctx.sampler.phase('6 tag list (set-up: tagging)');
  ctx.log(`figure 6: tagging one manifest ${s.tags} times (${s.tagConcurrency} in parallel), then listing`);
  const setup: PerRegistry<Spread> = {};
  const names = Array.from({ length: s.tags }, (_, i) => tagName(i));
  for (const reg of ctx.regs) {
    const c = ctx.clients.get(reg.name)!;
    await c.pushImage(repo, names[0]!, img);
    const t0 = performance.now();
    await pool(names.slice(1), s.tagConcurrency, (t) => c.putManifest(repo, t, img.manifest));
    setup[reg.name] = spread([(s.tags - 1) / secs(t0)]);
  }

  ctx.sampler.phase('6 tag list');
  const expectAll = (reg: RegistryName, got: string[], how: string) => {
    if (got.length !== s.tags) throw new Error(`${reg}: ${how} listed ${got.length} tags, expected ${s.tags}`);
  };
  const whole = await interleaved(ctx, 1, s.runs, async (reg, c) => {
    const t0 = performance.now();
    const a = await c.expect(200, 'GET', `/v2/${repo}/tags/list`);
    const tags = (JSON.parse(a.body.toString('utf8')) as { tags: string[] }).tags;
    const t = performance.now() - t0;
    expectAll(reg.name, tags, 'GET tags/list');
    return t;
  });
  const pages: PerRegistry<number> = {};
  const paged = await interleaved(ctx, 1, s.runs, async (reg, c) => {
    const t0 = performance.now();
    const all: string[] = [];
    let next: string | undefined = `/v2/${repo}/tags/list?n=${s.tagPage}`;
    let n = 0;
    while (next) {
      const a = await c.expect(200, 'GET', next);
      all.push(...((JSON.parse(a.body.toString('utf8')) as { tags: string[] | null }).tags ?? []));
      n++;
      if (n > s.tags / s.tagPage + 5) throw new Error(`${reg.name}: paging does not end`);
      const link = a.headers.link;
      const m = typeof link === 'string' ? /<([^>]+)>\s*;\s*rel="?next"?/.exec(link) : null;
      next = m?.[1];
      // Distribution 2.8 ignores `last` without `n`: keep n on every page
      if (next && !/[?&]n=/.test(next)) next += `${next.includes('?') ? '&' : '?'}n=${s.tagPage}`;
    }
    const t = performance.now() - t0;
    expectAll(reg.name, all, `paging by ${s.tagPage}`);
    if (new Set(all).size !== all.length) throw new Error(`${reg.name}: paging returned duplicates`);
    pages[reg.name] = n;
    return t;
  });
  return { setup, whole: fig(whole, 1000), paged: fig(paged, 1000), pages };
}

export interface BigBlob {
  push: PerRegistry<number>;
  pull: PerRegistry<number>;
  bytes: number;
}

/** Figure 8: one big blob (the random blob repeated) pushed and pulled, while memory is watched. */
export async function bigBlob(ctx: Ctx): Promise<BigBlob> {
  const { data, settings: s } = ctx;
  const copies = Math.max(1, Math.round(s.bigBlobBytes / data.length));
  const parts = Array.from({ length: copies }, () => data);
  const bytes = copies * data.length;
  const mb = bytes / MiB;
  const push: PerRegistry<number> = {};
  const pull: PerRegistry<number> = {};
  data.writeUInt32BE(++uniq, 0);
  randomBytes(12).copy(data, 4);
  const digest = sha256(parts);
  ctx.log(`figure 8: push and pull of a ${mb} MiB blob, memory sampled every 100 ms`);
  ctx.sampler.phase('8 big blob push');
  for (const reg of ctx.regs) {
    const t0 = performance.now();
    await ctx.clients.get(reg.name)!.pushMonolithic('bench/big', parts, digest);
    push[reg.name] = mb / secs(t0);
  }
  ctx.sampler.phase('8 big blob pull');
  for (const reg of ctx.regs) {
    const t0 = performance.now();
    const n = await ctx.clients.get(reg.name)!.pull('bench/big', digest);
    pull[reg.name] = mb / secs(t0);
    if (n !== bytes) throw new Error(`${reg.name}: pulled ${n} of ${bytes} bytes`);
  }
  return { push, pull, bytes };
}
