// Figure 9: machine ceilings, in the same run, with the same client as the registry figures;
// and the pull-path investigation (file streaming through node:http and Koa, 64 KiB vs 1 MiB reads).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Settings } from './figures.js';
import { Client } from './lib/client.js';
import { ddWrite, nodeSha256, opensslSha256, startBare, type BareServer } from './lib/ceilings.js';
import { load } from './lib/load.js';
import { MiB, spread, type Spread } from './lib/stats.js';
import { processCpuSeconds } from './lib/procs.js';

export interface Ceilings {
  opensslSha256: number;
  nodeSha256: Spread;
  dd: Spread;
  ddMiB: number;
  /** bare node:http, body from memory → client (MiB/s; cpu: server CPU s per GiB) */
  pullMem: Rate;
  /** bare node:http, body → sha256 + file */
  pushHashWrite: Rate;
  /** … + fdatasync before answering */
  pushHashWriteSync: Rate;
  /** cpu: bare server CPU µs per request */
  manifestGet: { rps: Spread; p50: Spread; p99: Spread; cpu: Spread };
  manifestHead: { rps: Spread; p50: Spread; p99: Spread; cpu: Spread };
  /** file streaming variants → MiB/s */
  fileStreams: Array<{ label: string } & Rate>;
}

export interface Rate {
  /** MiB/s */
  value: Spread;
  /** server CPU seconds per GiB */
  cpu: Spread;
}

export async function ceilings(o: {
  settings: Settings;
  benchDir: string;
  tmp: string;
  data: Buffer;
  manifest: Buffer;
  log: (s: string) => void;
  notes: string[];
}): Promise<Ceilings> {
  const { settings: s, data, log } = o;
  const mb = data.length / MiB;
  log('figure 9: machine ceilings');
  const ssl = await opensslSha256(3);
  const nodeSha = spread([nodeSha256(data), nodeSha256(data), nodeSha256(data)]);
  const ddMiB = 1024;
  const dd: number[] = [];
  for (let i = 0; i < 3; i++) dd.push(await ddWrite(o.tmp, ddMiB));

  const file = join(o.tmp, 'blob.bin');
  writeFileSync(file, data);
  const manifestFile = join(o.tmp, 'manifest.json');
  writeFileSync(manifestFile, o.manifest);
  const perGiB = 1024 / mb;
  // Two server processes one after the other: the one that serves the blob from memory holds a
  // buffer as big as the blob; the one that streams the file holds none, as a registry does not.
  const withBare = async <T>(memBytes: number, fn: (b: BareServer, serverCpu: () => number, c: Record<'http' | 'koa' | 'koaBig', Client>) => Promise<T>): Promise<T> => {
    const bare = await startBare({ benchDir: o.benchDir, file, uploadDir: o.tmp, memBytes, manifestFile });
    const c = { http: new Client(bare.httpUrl), koa: new Client(bare.koaUrl), koaBig: new Client(bare.koaBigUrl) };
    try {
      return await fn(bare, () => processCpuSeconds(bare.pid), c);
    } finally {
      for (const x of Object.values(c)) x.close();
      await bare.stop();
    }
  };
  const pullFrom = (c: Client, path: string) => async () => {
    const a = await c.expect(200, 'GET', path, { discard: true });
    if (a.bytes !== data.length) throw new Error(`${path}: ${a.bytes} bytes, expected ${data.length}`);
  };

  const fromMemory = await withBare(data.length, async (bare, serverCpu, { http }) => {
    const timed = async (runs: number, fn: () => Promise<void>): Promise<Rate> => {
      await fn(); // warm-up
      const v: number[] = [];
      const cpu: number[] = [];
      for (let i = 0; i < runs; i++) {
        const c0 = serverCpu();
        const t0 = performance.now();
        await fn();
        v.push(mb / ((performance.now() - t0) / 1000));
        cpu.push((serverCpu() - c0) * perGiB);
      }
      return { value: spread(v), cpu: spread(cpu) };
    };
    const pullMem = await timed(s.runs, pullFrom(http, '/mem'));
    const pushHashWrite = await timed(s.runs, async () => {
      await http.expect(201, 'PUT', '/upload', { body: data, headers: { 'Content-Type': 'application/octet-stream' } });
    });
    const pushHashWriteSync = await timed(s.runs, async () => {
      await http.expect(201, 'PUT', '/upload?sync=1', { body: data, headers: { 'Content-Type': 'application/octet-stream' } });
    });
    log(`figure 9: bare manifest server, ${s.loadConnections} connections × ${s.loadSeconds} s`);
    const manifestRuns = Math.min(3, s.runs);
    type R = { rps: number; p50: number; p99: number; cpu: number };
    const res: Record<'GET' | 'HEAD', R[]> = { GET: [], HEAD: [] };
    for (let i = -1; i < manifestRuns; i++) {
      for (const method of ['GET', 'HEAD'] as const) {
        const c0 = serverCpu();
        const r = await load({ url: `${bare.httpUrl}/manifest`, method, connections: s.loadConnections, seconds: i < 0 ? 2 : s.loadSeconds });
        const cpu = r.ok > 0 ? ((serverCpu() - c0) / r.ok) * 1e6 : NaN;
        if (r.non2xx || r.errors || r.timeouts) o.notes.push(`ceiling manifest ${method}: ${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts`);
        if (i >= 0) res[method].push({ ...r, cpu });
      }
    }
    const agg = (rs: R[]) => ({
      rps: spread(rs.map((r) => r.rps)),
      p50: spread(rs.map((r) => r.p50)),
      p99: spread(rs.map((r) => r.p99)),
      cpu: spread(rs.map((r) => r.cpu)),
    });
    return { pullMem, pushHashWrite, pushHashWriteSync, manifestGet: agg(res.GET), manifestHead: agg(res.HEAD) };
  });

  const fileStreams = await withBare(0, async (_bare, serverCpu, { http, koa, koaBig }) => {
    log('figure 9: file streaming through node:http and Koa, 64 KiB vs 1 MiB reads');
    const variants: Array<{ label: string; c: Client; path: string }> = [
      { label: 'node:http, fs.createReadStream, highWaterMark 64 KiB (the default)', c: http, path: '/file?hwm=65536' },
      { label: 'node:http, fs.createReadStream, highWaterMark 1 MiB', c: http, path: '/file?hwm=1048576' },
      { label: 'Koa, ctx.body = fs.createReadStream, 64 KiB', c: koa, path: '/file?hwm=65536' },
      { label: 'Koa, ctx.body = fs.createReadStream, 1 MiB', c: koa, path: '/file?hwm=1048576' },
      { label: 'Koa, ctx.body = FileHandle.createReadStream, 64 KiB', c: koa, path: '/filehandle?hwm=65536' },
      { label: 'Koa, ctx.body = FileHandle.createReadStream, 1 MiB (as Berth does)', c: koa, path: '/filehandle?hwm=1048576' },
      { label: 'Koa, FileHandle.createReadStream 1 MiB, server created with highWaterMark 4 MiB', c: koaBig, path: '/filehandle?hwm=1048576' },
      { label: 'Koa, FileHandle.createReadStream 4 MiB, server created with highWaterMark 4 MiB', c: koaBig, path: '/filehandle?hwm=4194304' },
    ];
    const values = variants.map(() => [] as number[]);
    const cpus = variants.map(() => [] as number[]);
    // interleaved: every variant once per round, after one warm-up round
    for (let round = -1; round < s.runs; round++) {
      for (const [i, v] of variants.entries()) {
        const c0 = serverCpu();
        const t0 = performance.now();
        await pullFrom(v.c, v.path)();
        if (round >= 0) {
          values[i]!.push(mb / ((performance.now() - t0) / 1000));
          cpus[i]!.push((serverCpu() - c0) * perGiB);
        }
      }
    }
    return variants.map((v, i) => ({ label: v.label, value: spread(values[i]!), cpu: spread(cpus[i]!) }));

  });

  return {
    opensslSha256: ssl,
    nodeSha256: nodeSha,
    dd: spread(dd),
    ddMiB,
    ...fromMemory,
    fileStreams,
  };
}
