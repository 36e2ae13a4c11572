// The pull-through cache section of `npm run bench` (issue 21): Berth as a cache of an upstream
// registry (CNCF Distribution with htpasswd auth, behind the logging front of
// test/helpers/upstream-registry.ts) against pulling from that upstream directly, same client:
//
//   - cold pull: a new image (config + layers of random bytes), through Berth (which fetches and
//     stores it while streaming) vs straight from the upstream — goal ≥ 0.9× the direct speed;
//   - warm pull: the same image again, from Berth's store vs the upstream — goal ≥ 1.0×;
//   - upstream requests a warm tag pull costs, within the tag TTL (goal: none) and just after it
//     (goal: one HEAD, no GET), counted in the front's log.
//
// A pull is what docker does: the manifest by tag, then the config and layers, three at a time.
// Runs alternate which side pulls a new image first (the upstream's page cache warms for the
// second). The runs are done twice: over loopback, unthrottled (where the two paths only compete
// for this machine's CPU), and with the upstream's front emulating a network link (a shared rate
// and a round trip per request; `--link-mibps`, `--link-rtt-ms`), where the question is whether
// Berth in the middle slows a pull from a remote registry. The request counts are taken in the
// first. Only 127.0.0.1 is contacted; every process started here is stopped by its PID.
import { randomFillSync } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { imageOf } from '../test/helpers/oci.js';
import { startUpstream, type Link, type Upstream } from '../test/helpers/upstream-registry.js';
import { Client, MANIFEST_ACCEPT, pool } from './lib/client.js';
import { descendants, processCpuSeconds, startBerth, type RegistryProc } from './lib/procs.js';
import { cell, MiB, num, spread, type Spread } from './lib/stats.js';
import { cpuBusyOver, loadavg } from './lib/system.js';

export interface ProxyBenchOptions {
  berthRoot: string;
  berthDescribed: string;
  tmp: string;
  runs: number;
  /** Bytes of each layer of the pulled images. */
  layerBytes: number;
  layers: number;
  /** The emulated link of the second section (both sides pull through the front). */
  link: Link;
  log: (s: string) => void;
  command: string;
}

const TAG_TTL_S = 3;
const PARALLEL_BLOBS = 3;

interface Pulled {
  bytes: number;
  ms: number;
}

/** Pulls `repo:tag` as docker does; the bytes are counted, not kept. A failure says which pull it was. */
async function pull(c: Client, repo: string, tag: string, headers: Record<string, string>): Promise<Pulled> {
  try {
    return await pullOnce(c, repo, tag, headers);
  } catch (e) {
    throw new Error(`pulling ${c.base}/v2/${repo}:${tag}: ${(e as Error).message}`, { cause: e });
  }
}

async function pullOnce(c: Client, repo: string, tag: string, headers: Record<string, string>): Promise<Pulled> {
  const t0 = performance.now();
  const m = await c.expect(200, 'GET', `/v2/${repo}/manifests/${tag}`, { headers: { ...headers, Accept: MANIFEST_ACCEPT } });
  const manifest = JSON.parse(m.body.toString('utf8')) as { config: { digest: string }; layers: { digest: string }[] };
  let bytes = m.bytes;
  await pool([manifest.config.digest, ...manifest.layers.map((l) => l.digest)], PARALLEL_BLOBS, async (digest) => {
    const b = await c.expect(200, 'GET', `/v2/${repo}/blobs/${digest}`, { headers, discard: true });
    bytes += b.bytes;
  });
  return { bytes, ms: performance.now() - t0 };
}

const mibps = (p: Pulled) => p.bytes / MiB / (p.ms / 1000);

/** CPU seconds used so far by each process a pull goes through (Berth's PostgreSQL apart). */
interface PathCpu {
  berth: number;
  /** This process: the upstream's logging front and the pulling client. */
  frontAndClient: number;
  distribution: number;
}

function pathCpu(berthPid: number): PathCpu {
  const own = process.cpuUsage();
  const distribution = descendants(process.pid)
    .filter((pid) => commOf(pid) === 'docker-registry')
    .reduce((a, pid) => a + processCpuSeconds(pid), 0);
  return { berth: processCpuSeconds(berthPid), frontAndClient: (own.user + own.system) / 1e6, distribution };
}

function commOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** `pull`, with the CPU each process of the path spent on it. */
async function measured(berthPid: number, pulling: () => Promise<Pulled>): Promise<{ pulled: Pulled; cpu: PathCpu }> {
  const before = pathCpu(berthPid);
  const pulled = await pulling();
  const after = pathCpu(berthPid);
  return { pulled, cpu: { berth: after.berth - before.berth, frontAndClient: after.frontAndClient - before.frontAndClient, distribution: after.distribution - before.distribution } };
}

/** One section's figures: the same runs, over loopback or over the emulated link. */
interface SectionFigures {
  cold: { berth: number[]; direct: number[] };
  /** Per run: cold Berth / direct of that run (both under the same load). */
  coldRatios: number[];
  coldCpu: { berth: PathCpu[]; direct: PathCpu[] };
  warm: { berth: number[]; direct: number[] };
  /** Upstream requests per warm tag pull within and just after the TTL, when the section counts them. */
  requests?: { fresh: RequestTally[]; stale: RequestTally[] };
}

interface SectionSetup {
  o: ProxyBenchOptions;
  upstream: Upstream;
  berth: RegistryProc;
  viaBerth: Client;
  direct: Client;
  /** Names this section's repositories apart from the other's: every cold pull is of a new image. */
  name: string;
  countRequests: boolean;
}

/**
 * One warm-up round (not counted), then the counted runs: each pushes a new image to the upstream,
 * pulls it cold through Berth and directly (alternating which goes first: the upstream's page
 * cache warms for the second), then warm both ways; with `countRequests`, then waits out the TTL
 * and counts the upstream requests of a tag pull just after it and of one right after that.
 */
async function measureSection(s: SectionSetup): Promise<SectionFigures> {
  const { o, upstream, berth, viaBerth, direct } = s;
  const auth = { Authorization: upstream.authorization() };
  const f: SectionFigures = {
    cold: { berth: [], direct: [] },
    coldRatios: [],
    coldCpu: { berth: [], direct: [] },
    warm: { berth: [], direct: [] },
    ...(s.countRequests ? { requests: { fresh: [], stale: [] } } : {}),
  };
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  const layers = Array.from({ length: o.layers }, () => Buffer.allocUnsafe(o.layerBytes));
  for (let run = -1; run < o.runs; run++) {
    for (const l of layers) randomFillSync(l);
    const image = imageOf(Buffer.concat([config, Buffer.from(` ${s.name} ${run} ${Date.now()}`)]), layers);
    const repo = `bench/${s.name}-${run + 1}`;
    await upstream.push(repo, 'v1', image);
    // The front closes a connection idle for 5 s (node's default) and node's agent ignores its
    // Keep-Alive hint, so a request sent on one just as it closes fails with "socket hang up" (it
    // did once in a run of the link section, where runs have no TTL wait). Each run's pulls start
    // on new connections, as a pull after a pause does.
    for (const c of [viaBerth, direct]) c.agent.destroy();
    const sides = run % 2 === 0 ? (['berth', 'direct'] as const) : (['direct', 'berth'] as const);
    const pullFrom = (side: 'berth' | 'direct') => (side === 'berth' ? pull(viaBerth, `up/${repo}`, 'v1', {}) : pull(direct, repo, 'v1', auth));
    const coldRun: Record<string, Pulled> = {};
    const coldRunCpu: Record<string, PathCpu> = {};
    for (const side of sides) {
      const m = await measured(berth.pid, () => pullFrom(side));
      coldRun[side] = m.pulled;
      coldRunCpu[side] = m.cpu;
    }
    const warmRun: Record<string, Pulled> = {};
    for (const side of sides) warmRun[side] = await pullFrom(side);
    let counted = '';
    if (f.requests) {
      // Past the TTL the tag is checked (one HEAD); right after that check it is fresh again.
      await sleep(TAG_TTL_S * 1000 + 500);
      upstream.clearLog();
      await pull(viaBerth, `up/${repo}`, 'v1', {});
      const afterTtl = tally(upstream);
      upstream.clearLog();
      await pull(viaBerth, `up/${repo}`, 'v1', {});
      const withinTtl = tally(upstream);
      if (run >= 0) {
        f.requests.fresh.push(withinTtl);
        f.requests.stale.push(afterTtl);
      }
      counted = `; upstream requests within TTL ${JSON.stringify(withinTtl)}, after ${JSON.stringify(afterTtl)}`;
    }
    if (run < 0) continue;
    f.cold.berth.push(mibps(coldRun.berth!));
    f.cold.direct.push(mibps(coldRun.direct!));
    f.coldRatios.push(mibps(coldRun.berth!) / mibps(coldRun.direct!));
    f.coldCpu.berth.push(coldRunCpu.berth!);
    f.coldCpu.direct.push(coldRunCpu.direct!);
    f.warm.berth.push(mibps(warmRun.berth!));
    f.warm.direct.push(mibps(warmRun.direct!));
    o.log(`proxy ${s.name} run ${run + 1}/${o.runs}: cold ${num(mibps(coldRun.berth!))} vs ${num(mibps(coldRun.direct!))} MiB/s, warm ${num(mibps(warmRun.berth!))} vs ${num(mibps(warmRun.direct!))} MiB/s${counted}`);
  }
  return f;
}

/** A section's table: cold, per-run ratio, CPU per cold pull, warm, and the request counts if measured. */
function sectionTable(f: SectionFigures): string[] {
  const ratio = (b: Spread, d: Spread) => `${(b.median / d.median).toFixed(2)}×`;
  const coldB = spread(f.cold.berth);
  const coldD = spread(f.cold.direct);
  const warmB = spread(f.warm.berth);
  const warmD = spread(f.warm.direct);
  const cpuCell = (runs: PathCpu[], part: keyof PathCpu) => num(spread(runs.map((r) => r[part])).median, 2);
  const cpuTotal = (runs: PathCpu[]) => num(spread(runs.map((r) => r.berth + r.frontAndClient + r.distribution)).median, 2);
  const { berth: cpuB, direct: cpuD } = f.coldCpu;
  const rows = [
    '| figure | Berth | upstream direct | Berth / direct | goal |',
    '| --- | --- | --- | --- | --- |',
    `| cold pull (new image; Berth fetches, stores and streams) | ${cell(coldB)} MiB/s | ${cell(coldD)} MiB/s | ${ratio(coldB, coldD)} | ≥ 0.9× |`,
    `| cold pull, per run: Berth / direct of the same run | — | — | ${num(spread(f.coldRatios).median, 2)}× (${num(Math.min(...f.coldRatios), 2)}–${num(Math.max(...f.coldRatios), 2)}) | ≥ 0.9× |`,
    `| CPU s per cold pull: Berth / front + client / Distribution / all | ${cpuCell(cpuB, 'berth')} / ${cpuCell(cpuB, 'frontAndClient')} / ${cpuCell(cpuB, 'distribution')} / ${cpuTotal(cpuB)} | — / ${cpuCell(cpuD, 'frontAndClient')} / ${cpuCell(cpuD, 'distribution')} / ${cpuTotal(cpuD)} | — | — |`,
    `| warm pull (Berth serves its copy; tag within TTL) | ${cell(warmB)} MiB/s | ${cell(warmD)} MiB/s | ${ratio(warmB, warmD)} | ≥ 1.0× |`,
  ];
  if (f.requests) {
    const { fresh, stale } = f.requests;
    const median = (ts: RequestTally[], k: keyof RequestTally) => num(spread(ts.map((t) => t[k])).median, 0);
    const max = (ts: RequestTally[], k: keyof RequestTally) => Math.max(...ts.map((t) => t[k]));
    rows.push(
      `| upstream requests per warm tag pull within the TTL: GET / HEAD / other | ${median(fresh, 'get')} / ${median(fresh, 'head')} / ${median(fresh, 'other')} (max ${Math.max(max(fresh, 'get'), max(fresh, 'head'), max(fresh, 'other'))}) | — | — | 0 / 0 / 0 |`,
      `| upstream requests per warm tag pull just after the TTL: GET / HEAD / other | ${median(stale, 'get')} / ${median(stale, 'head')} / ${median(stale, 'other')} (max GET ${max(stale, 'get')}, max HEAD ${max(stale, 'head')}) | — | — | 0 / 1 / 0 |`,
    );
  }
  return rows;
}

export async function runProxy(o: ProxyBenchOptions): Promise<{ report: string }> {
  const startedAt = new Date().toISOString();
  const loadBefore = loadavg();
  const busyBefore = await cpuBusyOver(2000);
  let upstream: Upstream | undefined;
  let berth: RegistryProc | undefined;
  const clients: Client[] = [];
  try {
    o.log('proxy: starting the upstream (Distribution, htpasswd, logging front) and Berth with BERTH_PROXIES');
    upstream = await startUpstream();
    const dataDir = join(o.tmp, 'berth-proxy');
    mkdirSync(dataDir);
    const proxies = [{ prefix: 'up', upstream: upstream.url, ...upstream.credentials, tagTtl: `${TAG_TTL_S}s` }];
    berth = await startBerth({ repoRoot: o.berthRoot, dataDir, extraEnv: { BERTH_PROXIES: JSON.stringify(proxies) } });
    const viaBerth = new Client(berth.url);
    const direct = new Client(upstream.url);
    clients.push(viaBerth, direct);
    const setup = { o, upstream, berth, viaBerth, direct };

    o.log('proxy: loopback, unthrottled');
    const loopback = await measureSection({ ...setup, name: 'loopback', countRequests: true });
    const loadBetween = loadavg();
    o.log(`proxy: over an emulated link of ${o.link.mibPerSecond} MiB/s, ${o.link.rttMs} ms RTT`);
    upstream.link = o.link;
    const linked = await measureSection({ ...setup, name: 'link', countRequests: false });
    upstream.link = undefined;

    const imageMiB = (o.layers * o.layerBytes) / MiB;
    const lines = [
      `# Pull-through cache benchmark — ${startedAt.slice(0, 10)}`,
      '',
      `Command: \`${o.command}\`; Berth: ${o.berthDescribed}; started ${startedAt}; load before ${loadBefore}, ${(busyBefore * 100).toFixed(0)} % busy.`,
      '',
      `Upstream: CNCF Distribution 2.8 (Debian's docker-registry), filesystem storage, htpasswd (Basic) auth, behind a`,
      `node:http front on 127.0.0.1 that logs every request (test/helpers/upstream-registry.ts). Berth: embedded`,
      `PostgreSQL, fs store, \`BERTH_PROXIES=[{"prefix":"up",…,"tagTtl":"${TAG_TTL_S}s"}]\`. Each run pulls a new image`,
      `(${o.layers} layers of ${o.layerBytes / MiB} MiB random bytes + config, ${num(imageMiB)} MiB) as docker does (manifest, then blobs`,
      `${PARALLEL_BLOBS} at a time): cold through Berth and directly (alternating which goes first), then warm both ways.`,
      `Two sections, the same runs in each: ${o.runs} counted runs after one warm-up; median (min–max).`,
      '',
      '## 1. Loopback, unthrottled: a CPU contest on this machine',
      '',
      `Nothing between the upstream and either puller but 127.0.0.1, on ${availableParallelism()} cores that also run the upstream,`,
      `the front and the client: neither side waits on a network, so this compares what each path costs in CPU, not`,
      `whether Berth in the middle slows a pull from a registry across a network (section 2).`,
      '',
      ...sectionTable(loopback),
      '',
      `Upstream requests are counted at the front, 401 challenges excluded (in this section only). CPU per cold pull is`,
      `each process's CPU time over the pull (medians): on a machine whose cores are all busy, a pull's speed is the CPU`,
      `it gets over what it costs, so the cold ratio is about the "all" of the direct path over that of the Berth path.`,
      `Load after this section: ${loadBetween}.`,
      '',
      `## 2. Over an emulated link: ${o.link.mibPerSecond} MiB/s shared, ${o.link.rttMs} ms round trip`,
      '',
      `The upstream as a remote registry: both sides pull through the same front with the same link — Berth's fetches`,
      `and the direct pulls each wait ${o.link.rttMs} ms before the front forwards a request, and every response body of the`,
      `front shares one ${o.link.mibPerSecond} MiB/s uplink (a token bucket; bursts of 64 KiB or 2 ms of the rate, whichever is`,
      `more). Berth and its clients are on the site's side: Berth → client is loopback, so a warm pull is Berth's store`,
      `against the upstream over the link. Set with \`--link-mibps\` and \`--link-rtt-ms\`. The pacing is done by this`,
      `process, in the "front + client" CPU; the direct column is what the link carried, below its rate when this`,
      `machine's CPU rather than the link was the limit.`,
      '',
      ...sectionTable(linked),
      '',
      `Load after: ${loadavg()}.`,
      '',
    ];
    return { report: lines.join('\n') };
  } finally {
    for (const c of clients) c.close();
    await berth?.stop().catch((e: unknown) => o.log(`stopping Berth: ${(e as Error).message}`));
    await upstream?.destroy().catch((e: unknown) => o.log(`stopping the upstream: ${(e as Error).message}`));
  }
}

interface RequestTally {
  get: number;
  head: number;
  other: number;
}

function tally(u: Upstream): RequestTally {
  const counted = u.log.filter((l) => l.status !== 401);
  const get = counted.filter((l) => l.method === 'GET').length;
  const head = counted.filter((l) => l.method === 'HEAD').length;
  return { get, head, other: counted.length - get - head };
}
