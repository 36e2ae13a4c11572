// The results file: bench/results/<YYYY-MM-DD>.md.
import type { PerRegistry, Settings } from './figures.js';
import type { MachineInfo } from './lib/system.js';
import { cell, MiB, num, spread, type Spread } from './lib/stats.js';
import type { Ceilings } from './machine.js';

export interface Row {
  figure: string;
  unit: string;
  better: 'higher' | 'lower' | 'none';
  values: PerRegistry<Spread>;
  /** text for the values of a registry that has no such figure */
  missing?: PerRegistry<string>;
  ceiling?: string;
  digits?: number;
}

export interface CpuSpan {
  figure: string;
  seconds: number;
  /** share of the whole machine (all CPUs) busy */
  busy: number;
  /** share of the whole machine used by processes that are not the bench's */
  foreign: number;
}

export interface MemoryPhaseRow {
  phase: string;
  berthNode?: number;
  berthPgPss?: number;
  berthPgRss?: number;
  distribution?: number;
}

export interface Report {
  date: string;
  startedAt: string;
  command: string;
  wallSeconds: number;
  machine: MachineInfo;
  loadBefore: string;
  loadAfter: string;
  busyBefore: number;
  settings: Settings;
  /** counted runs of each client figure (`--client-runs`) */
  clientRuns: number;
  rows: Row[];
  ceilings: Ceilings;
  memory: MemoryPhaseRow[];
  memoryExact: boolean;
  bigBlob: { mib: number; pushPeak?: number; pullPeak?: number; limitMiB: number };
  cpu: CpuSpan[];
  notes: string[];
  berthCommit: string;
}

function ratio(r: Row): string {
  const b = r.values.Berth?.median;
  const d = r.values.Distribution?.median;
  if (b === undefined || d === undefined || !Number.isFinite(b) || !Number.isFinite(d) || d === 0) return '—';
  const x = b / d;
  const dir = r.better === 'higher' ? ' (higher is better)' : r.better === 'lower' ? ' (lower is better)' : '';
  return `${x.toFixed(2)}×${dir}`;
}

function pad(s: string): string {
  return s.replace(/\|/g, '\\|');
}

export function single(v: number | undefined): Spread | undefined {
  return v === undefined ? undefined : spread([v]);
}

export function renderReport(r: Report): string {
  const L: string[] = [];
  const s = r.settings;
  L.push(`# Berth vs CNCF Distribution — ${r.date}`);
  L.push('');
  L.push(
    `Side-by-side run of \`${r.command}\` (${Math.round(r.wallSeconds)} s wall time), started ${r.startedAt}. ` +
      `Berth (${r.berthCommit}; built \`dist/\`, embedded PostgreSQL, fs blobs) and ${r.machine.distribution} ` +
      `(filesystem storage, delete enabled, in-memory blob descriptor cache as in its shipped config), both on 127.0.0.1 ` +
      `with their data in the same temp dir on the same filesystem, driven by the same Node client (node:http, keep-alive) ` +
      `and, for the load figures, autocannon in the bench process. Cells: median (min–max) of ${s.runs} runs after a warm-up ` +
      `run, registries interleaved run by run; "1 run" where a figure is measured once. ` +
      `"Registry CPU" rows: CPU time (user + system, from /proc) the registry's processes used for that work — for Berth ` +
      `node plus its embedded PostgreSQL; on a shared machine these move much less with other load than the throughput figures.`,
  );
  L.push('');
  L.push('## Machine');
  L.push('');
  L.push(`- CPUs: ${r.machine.cpus} × ${r.machine.cpuModel}`);
  L.push(`- memory: ${r.machine.memTotalGiB.toFixed(1)} GiB`);
  L.push(`- OS: ${r.machine.os}, kernel ${r.machine.kernel}`);
  L.push(`- Node ${r.machine.node}; ${r.machine.openssl}`);
  L.push(`- load average before (1/5/15 min): ${r.loadBefore}; CPU busy over 2 s before start: ${(r.busyBefore * 100).toFixed(0)} %`);
  L.push(`- load average after: ${r.loadAfter}`);
  L.push('');
  L.push('## Results');
  L.push('');
  L.push('| figure | Berth (median, spread) | Distribution (median, spread) | ratio Berth/Distribution | ceiling |');
  L.push('| --- | --- | --- | --- | --- |');
  for (const row of r.rows) {
    const v = (name: 'Berth' | 'Distribution') => row.values[name] ? cell(row.values[name], row.digits) : (row.missing?.[name] ?? '—');
    L.push(`| ${pad(row.figure)} [${row.unit}] | ${v('Berth')} | ${v('Distribution')} | ${ratio(row)} | ${pad(row.ceiling ?? '—')} |`);
  }
  L.push('');
  L.push(
    `Big blob (figure 8): Berth's Node process peaked at ${mibText(r.bigBlob.pushPeak)} while receiving and ` +
      `${mibText(r.bigBlob.pullPeak)} while serving the ${r.bigBlob.mib} MiB blob; the limit is ${r.bigBlob.limitMiB} MiB: ` +
      `**${(r.bigBlob.pushPeak ?? Infinity) < r.bigBlob.limitMiB * MiB && (r.bigBlob.pullPeak ?? Infinity) < r.bigBlob.limitMiB * MiB ? 'within' : 'OVER'}**.`,
  );
  L.push('');
  const c = r.ceilings;
  L.push('## Machine ceilings (figure 9, same run)');
  L.push('');
  L.push('| ceiling | value |');
  L.push('| --- | --- |');
  L.push(`| \`openssl speed -evp sha256 -bytes 1048576 -seconds 3\` (one core) | ${num(c.opensslSha256)} MiB/s |`);
  L.push(`| node:crypto sha256 over the ${s.blobBytes / MiB} MiB blob | ${cell(c.nodeSha256)} MiB/s |`);
  L.push(`| \`dd if=/dev/zero bs=1M count=${c.ddMiB} conv=fdatasync\` into the temp dir | ${cell(c.dd)} MiB/s |`);
  L.push(`| bare node:http server → client, ${s.blobBytes / MiB} MiB from memory | ${cell(c.pullMem.value)} MiB/s; server CPU ${cell(c.pullMem.cpu, 2)} s/GiB |`);
  L.push(`| client → bare node:http server, ${s.blobBytes / MiB} MiB, sha256 + write to a file | ${cell(c.pushHashWrite.value)} MiB/s; server CPU ${cell(c.pushHashWrite.cpu, 2)} s/GiB |`);
  L.push(`| … the same, plus fdatasync before answering | ${cell(c.pushHashWriteSync.value)} MiB/s; server CPU ${cell(c.pushHashWriteSync.cpu, 2)} s/GiB |`);
  L.push(`| bare node:http manifest GET, ${s.loadConnections} connections | ${cell(c.manifestGet.rps)} req/s, p50 ${cell(c.manifestGet.p50, 2)} ms, p99 ${cell(c.manifestGet.p99, 2)} ms; server CPU ${cell(c.manifestGet.cpu)} µs/req |`);
  L.push(`| bare node:http manifest HEAD, ${s.loadConnections} connections | ${cell(c.manifestHead.rps)} req/s, p50 ${cell(c.manifestHead.p50, 2)} ms, p99 ${cell(c.manifestHead.p99, 2)} ms; server CPU ${cell(c.manifestHead.cpu)} µs/req |`);
  L.push('');
  L.push('## Pull path: streaming a file through node:http and Koa');
  L.push('');
  L.push(`The ${s.blobBytes / MiB} MiB blob as a file (in the page cache), served by a bare server process to the same client:`);
  L.push('');
  L.push('| server | MiB/s | server CPU s per GiB |');
  L.push('| --- | --- | --- |');
  for (const f of c.fileStreams) L.push(`| ${pad(f.label)} | ${cell(f.value)} | ${cell(f.cpu, 2)} |`);
  L.push('');
  L.push('## Memory by phase');
  L.push('');
  L.push(
    `Peak per phase, MiB. Main processes: ${r.memoryExact ? "the kernel's VmHWM, reset at each phase start (exact)" : 'VmRSS sampled every 100 ms (VmHWM could not be reset)'}. ` +
      `Berth's embedded PostgreSQL (postmaster and its children, a separate process tree): the peak of the summed PSS ` +
      `(shared buffers split among processes) and of the summed RSS (shared pages counted in every process), sampled every 100 ms.`,
  );
  L.push('');
  L.push('| phase | Berth node | Berth PostgreSQL PSS | Berth PostgreSQL RSS sum | Distribution |');
  L.push('| --- | --- | --- | --- | --- |');
  for (const m of r.memory) L.push(`| ${pad(m.phase)} | ${mibText(m.berthNode)} | ${mibText(m.berthPgPss)} | ${mibText(m.berthPgRss)} | ${mibText(m.distribution)} |`);
  L.push('');
  L.push('## CPU used by other processes during each figure');
  L.push('');
  L.push('Share of the whole machine (all CPUs): busy in total, and busy outside the bench and its children (registries, PostgreSQL, bare server, openssl, dd).');
  L.push('');
  L.push('| figure | seconds | busy | other processes |');
  L.push('| --- | --- | --- | --- |');
  for (const x of r.cpu) L.push(`| ${pad(x.figure)} | ${x.seconds.toFixed(0)} | ${(x.busy * 100).toFixed(0)} % | ${(x.foreign * 100).toFixed(0)} % |`);
  L.push('');
  L.push('## Workload');
  L.push('');
  L.push(`1. Monolithic push: \`POST /v2/bench/mono/blobs/uploads/\`, then one \`PUT <Location>&digest=\` carrying ${s.blobBytes / MiB} MiB of random bytes from memory (each run new content: the first 16 bytes are rewritten and the digest computed before the clock starts). Time from POST to the 201.`);
  L.push(`2. Chunked push: POST, ${s.blobBytes / s.chunkBytes} × \`PATCH\` of ${s.chunkBytes / MiB} MiB with \`Content-Range: <start>-<end>\` (following each returned Location), then \`PUT ?digest=\` with no body.`);
  L.push(`3. Pull: \`GET /v2/bench/mono/blobs/<digest>\` of the last blob pushed in figure 1, body counted and dropped; length checked.`);
  L.push(`4. Manifest \`GET\` and \`HEAD /v2/bench/manifest/manifests/latest\` (OCI manifest, Accept of the four manifest types), autocannon with ${s.loadConnections} connections for ${s.loadSeconds} s, pipelining 1. Latency percentiles from every 2xx response time (autocannon's own histogram has 1-ms resolution). autocannon's parser does not know HEAD responses have no body; bench/lib/load.ts makes it skip the body for HEAD.`);
  L.push(`5. ${s.images} unique images per run (OCI config JSON + random layers of ${s.imageLayerSizes.map((n) => `${n / 1024} KiB`).join(' and ')}), ${s.imageConcurrency} at a time; per blob \`HEAD\` (absent) → POST → PUT ?digest=, then \`PUT\` the manifest by tag, into a new repository per run.`);
  L.push(`6. One manifest pushed to \`bench/tags\` and tagged ${s.tags} times (${s.tagConcurrency} PUTs in flight; the set-up rate is reported, 1 run), then \`GET …/tags/list\` whole, and paged with \`n=${s.tagPage}\` following \`Link: <…>; rel="next"\` (n kept on every page) until no Link; every tag checked present once.`);
  L.push(`7. Peak memory: see "Memory by phase".`);
  L.push(`8. A ${r.bigBlob.mib} MiB blob (the random blob repeated) pushed monolithically and pulled once per registry, memory watched.`);
  L.push(`9. Machine ceilings, above; the bare servers run as a separate process like the registries.`);
  L.push(`10. skopeo copy (bench/clients.ts; ${r.clientRuns} counted runs after a warm-up run, \`--client-runs\`): each run a new OCI image layout (one linux/amd64 image, 5 layers, each a tar of one 40 MiB random file, gzip level 1; ~200 MiB of blobs), \`skopeo copy oci:<dir>:bench docker://127.0.0.1:<port>/clients/skopeo-<run>:bench\` into a new repository, then back out to a new \`oci:\` directory; registries alternate who goes first.`);
  L.push(`11. docker push / pull with a private dockerd (test/helpers/dockerd.ts; vfs storage driver): a new image of the same shape each run, loaded from a \`docker-archive\` skopeo writes (not timed), \`docker push\` to a new repository, every image forgotten (\`rmi\`, \`image prune -af\`), \`docker pull\`, forgotten again. dockerd gzips each layer on push and unpacks into vfs on pull: mostly the client's work.`);
  L.push('');
  L.push('## Notes and anomalies');
  L.push('');
  if (r.notes.length === 0) L.push('- none');
  for (const n of r.notes) L.push(`- ${n}`);
  L.push('');
  return L.join('\n');
}

export function mibText(bytes: number | undefined): string {
  return bytes === undefined || !Number.isFinite(bytes) || bytes === 0 ? '—' : `${(bytes / MiB).toFixed(1)}`;
}
