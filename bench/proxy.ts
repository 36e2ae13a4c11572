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
// second). Only 127.0.0.1 is contacted; every process started here is stopped by its PID.
import { randomFillSync } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { imageOf } from '../test/helpers/oci.js';
import { startUpstream, type Upstream } from '../test/helpers/upstream-registry.js';
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
  log: (s: string) => void;
  command: string;
}

const TAG_TTL_S = 3;
const PARALLEL_BLOBS = 3;

interface Pulled {
  bytes: number;
  ms: number;
}

/** Pulls `repo:tag` as docker does; the bytes are counted, not kept. */
async function pull(c: Client, repo: string, tag: string, headers: Record<string, string>): Promise<Pulled> {
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
    const auth = { Authorization: upstream.authorization() };

    const cold = { berth: [] as number[], direct: [] as number[] };
    // Per run: cold Berth / direct of that run (both under the same load), and the CPU per pull.
    const coldRatios: number[] = [];
    const coldCpu = { berth: [] as PathCpu[], direct: [] as PathCpu[] };
    const warm = { berth: [] as number[], direct: [] as number[] };
    const fresh = { get: [] as number[], head: [] as number[], other: [] as number[] };
    const stale = { get: [] as number[], head: [] as number[], other: [] as number[] };
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
    const layers = Array.from({ length: o.layers }, () => Buffer.allocUnsafe(o.layerBytes));
    // One warm-up round (not counted), then the counted runs.
    for (let run = -1; run < o.runs; run++) {
      for (const l of layers) randomFillSync(l);
      const image = imageOf(Buffer.concat([config, Buffer.from(` ${run} ${Date.now()}`)]), layers);
      const repo = `bench/image-${run + 1}`;
      await upstream.push(repo, 'v1', image);
      const sides = run % 2 === 0 ? (['berth', 'direct'] as const) : (['direct', 'berth'] as const);
      const coldRun: Record<string, Pulled> = {};
      const coldRunCpu: Record<string, PathCpu> = {};
      for (const side of sides) {
        const m = await measured(berth.pid, () => (side === 'berth' ? pull(viaBerth, `up/${repo}`, 'v1', {}) : pull(direct, repo, 'v1', auth)));
        coldRun[side] = m.pulled;
        coldRunCpu[side] = m.cpu;
      }
      const warmRun: Record<string, Pulled> = {};
      for (const side of sides) warmRun[side] = side === 'berth' ? await pull(viaBerth, `up/${repo}`, 'v1', {}) : await pull(direct, repo, 'v1', auth);
      // Past the TTL the tag is checked (one HEAD); right after that check it is fresh again.
      await sleep(TAG_TTL_S * 1000 + 500);
      upstream.clearLog();
      await pull(viaBerth, `up/${repo}`, 'v1', {});
      const afterTtl = tally(upstream);
      upstream.clearLog();
      await pull(viaBerth, `up/${repo}`, 'v1', {});
      const withinTtl = tally(upstream);
      if (run < 0) continue;
      cold.berth.push(mibps(coldRun.berth!));
      cold.direct.push(mibps(coldRun.direct!));
      coldRatios.push(mibps(coldRun.berth!) / mibps(coldRun.direct!));
      coldCpu.berth.push(coldRunCpu.berth!);
      coldCpu.direct.push(coldRunCpu.direct!);
      warm.berth.push(mibps(warmRun.berth!));
      warm.direct.push(mibps(warmRun.direct!));
      for (const [into, t] of [[fresh, withinTtl], [stale, afterTtl]] as const) {
        into.get.push(t.get);
        into.head.push(t.head);
        into.other.push(t.other);
      }
      o.log(`proxy run ${run + 1}/${o.runs}: cold ${num(mibps(coldRun.berth!))} vs ${num(mibps(coldRun.direct!))} MiB/s, warm ${num(mibps(warmRun.berth!))} vs ${num(mibps(warmRun.direct!))} MiB/s; upstream requests within TTL ${JSON.stringify(withinTtl)}, after ${JSON.stringify(afterTtl)}`);
    }

    const ratio = (b: Spread, d: Spread) => `${(b.median / d.median).toFixed(2)}×`;
    const coldB = spread(cold.berth);
    const coldD = spread(cold.direct);
    const warmB = spread(warm.berth);
    const warmD = spread(warm.direct);
    const imageMiB = (o.layers * o.layerBytes) / MiB;
    const cpuCell = (runs: PathCpu[], part: keyof PathCpu) => num(spread(runs.map((r) => r[part])).median, 2);
    const cpuTotal = (runs: PathCpu[]) => num(spread(runs.map((r) => r.berth + r.frontAndClient + r.distribution)).median, 2);
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
      `${o.runs} counted runs after one warm-up; median (min–max).`,
      '',
      '| figure | Berth | upstream direct | Berth / direct | goal |',
      '| --- | --- | --- | --- | --- |',
      `| cold pull (new image; Berth fetches, stores and streams) | ${cell(coldB)} MiB/s | ${cell(coldD)} MiB/s | ${ratio(coldB, coldD)} | ≥ 0.9× |`,
      `| cold pull, per run: Berth / direct of the same run | — | — | ${num(spread(coldRatios).median, 2)}× (${num(Math.min(...coldRatios), 2)}–${num(Math.max(...coldRatios), 2)}) | ≥ 0.9× |`,
      `| CPU s per cold pull: Berth / front + client / Distribution / all | ${cpuCell(coldCpu.berth, 'berth')} / ${cpuCell(coldCpu.berth, 'frontAndClient')} / ${cpuCell(coldCpu.berth, 'distribution')} / ${cpuTotal(coldCpu.berth)} | — / ${cpuCell(coldCpu.direct, 'frontAndClient')} / ${cpuCell(coldCpu.direct, 'distribution')} / ${cpuTotal(coldCpu.direct)} | — | — |`,
      `| warm pull (Berth serves its copy; tag within TTL) | ${cell(warmB)} MiB/s | ${cell(warmD)} MiB/s | ${ratio(warmB, warmD)} | ≥ 1.0× |`,
      `| upstream requests per warm tag pull within the TTL: GET / HEAD / other | ${num(spread(fresh.get).median, 0)} / ${num(spread(fresh.head).median, 0)} / ${num(spread(fresh.other).median, 0)} (max ${Math.max(...fresh.get, ...fresh.head, ...fresh.other)}) | — | — | 0 / 0 / 0 |`,
      `| upstream requests per warm tag pull just after the TTL: GET / HEAD / other | ${num(spread(stale.get).median, 0)} / ${num(spread(stale.head).median, 0)} / ${num(spread(stale.other).median, 0)} (max GET ${Math.max(...stale.get)}, max HEAD ${Math.max(...stale.head)}) | — | — | 0 / 1 / 0 |`,
      '',
      `Upstream requests are counted at the front, 401 challenges excluded. CPU per cold pull is each process's CPU time`,
      `over the pull (medians): on a machine whose cores are all busy, a pull's speed is the CPU it gets over what it`,
      `costs, so the cold ratio is about the "all" of the direct path over that of the Berth path. Load after: ${loadavg()}.`,
      '',
    ];
    return { report: lines.join('\n') };
  } finally {
    for (const c of clients) c.close();
    await berth?.stop().catch((e: unknown) => o.log(`stopping Berth: ${(e as Error).message}`));
    await upstream?.destroy().catch((e: unknown) => o.log(`stopping the upstream: ${(e as Error).message}`));
  }
}

function tally(u: Upstream): { get: number; head: number; other: number } {
  const counted = u.log.filter((l) => l.status !== 401);
  const get = counted.filter((l) => l.method === 'GET').length;
  const head = counted.filter((l) => l.method === 'HEAD').length;
  return { get, head, other: counted.length - get - head };
}
