// GET /healthz, /readyz and /metrics: what an orchestrator and a dashboard see, on a real
// database and store; readiness failing for each reason it checks.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import supertest from 'supertest';
import { buildApp, buildOperationsApp } from '../../src/app.js';
import { createPool } from '../../src/db/pool.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { FsBlobStore } from '../../src/storage/fs/fs-blob-store.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { freePort } from '../helpers/child-processes.js';
import { pushBlob, pushImage, randomBlob } from '../helpers/oci.js';
import { startTestRegistry, type TestRegistry } from '../helpers/registry.js';

const silent = pino({ level: 'silent' });

/** The value of one sample of the Prometheus text, or undefined when it is absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

describe('GET /healthz and /readyz', () => {
  let reg: TestRegistry;
  let draining = false;
  before(async () => {
    reg = await startTestRegistry({ draining: () => draining });
  });
  after(() => reg.close());

  it('/healthz answers 200 {"status":"ok"} without touching the database', async () => {
    const res = await reg.request.get('/healthz').expect(200);
    assert.deepEqual(res.body, { status: 'ok' });
    assert.equal(res.headers['cache-control'], 'no-store');
  });

  it('/readyz answers 200 when PostgreSQL, the blob store and the migrations are fine', async () => {
    const res = await reg.request.get('/readyz').expect(200);
    assert.equal(res.body.status, 'ready');
    for (const name of ['database', 'storage', 'migrations']) assert.equal(res.body.checks[name].ok, true, JSON.stringify(res.body));
  });

  it('/readyz answers 503 "shutting down" once the process drains', async () => {
    draining = true;
    try {
      const res = await reg.request.get('/readyz').expect(503);
      assert.equal(res.body.status, 'shutting down');
    } finally {
      draining = false;
    }
  });

  it('HEAD /healthz works for probes that only look at the status; POST is 405', async () => {
    await reg.request.head('/healthz').expect(200);
    await reg.request.post('/healthz').expect(405);
  });
});

describe('GET /readyz when something is wrong', () => {
  let scratch: string;
  before(async () => {
    scratch = await mkdtemp(path.join(tmpdir(), 'berth-readyz-'));
  });
  after(() => rm(scratch, { recursive: true, force: true }));

  it('503 with the storage check failing when the blob directory cannot be used', async () => {
    const db = await createTestDatabase();
    try {
      const notADirectory = path.join(scratch, 'file');
      await writeFile(notADirectory, 'x');
      const app = buildApp({ pool: db.pool, store: new FsBlobStore(path.join(notADirectory, 'blobs')), logger: silent });
      const res = await supertest(app.callback()).get('/readyz').expect(503);
      assert.equal(res.body.status, 'not ready');
      assert.equal(res.body.checks.storage.ok, false);
      assert.match(res.body.checks.storage.error, /not usable/);
      assert.equal(res.body.checks.database.ok, true);
    } finally {
      await db.drop();
    }
  });

  it('503 naming the migrations not applied to an empty database', async () => {
    const db = await createTestDatabase({ empty: true });
    try {
      const app = buildApp({ pool: db.pool, store: new FsBlobStore(path.join(scratch, 'blobs')), logger: silent });
      const res = await supertest(app.callback()).get('/readyz').expect(503);
      assert.equal(res.body.checks.migrations.ok, false);
      assert.match(res.body.checks.migrations.error, /not applied: 0001_init\.sql/);
      assert.equal(res.body.checks.database.ok, true);
    } finally {
      await db.drop();
    }
  });

  it('503 with the database check failing when PostgreSQL does not answer', async () => {
    const port = await freePort();
    const pool = createPool(`postgres://nobody:x@127.0.0.1:${port}/none`);
    try {
      const app = buildApp({ pool, store: new FsBlobStore(path.join(scratch, 'blobs2')), logger: silent });
      const res = await supertest(app.callback()).get('/readyz').expect(503);
      assert.equal(res.body.checks.database.ok, false);
      assert.match(res.body.checks.database.error, /ECONNREFUSED/);
      assert.equal(res.body.checks.storage.ok, true);
    } finally {
      await pool.end();
    }
  });
});

describe('GET /metrics', () => {
  let reg: TestRegistry;
  const metrics = new Metrics({ processMetrics: false });
  const repo = 'metrics/app';
  before(async () => {
    reg = await startTestRegistry({ metrics });
    metrics.watchPools({ query: reg.db.pool });
  });
  after(() => reg.close());

  const scrape = async () => {
    const res = await reg.request.get('/metrics').expect(200);
    assert.match(res.headers['content-type'] ?? '', /^text\/plain; version=0\.0\.4/);
    return res.text;
  };

  it('counts requests by method, route template and status, never by repository or digest', async () => {
    const image = await pushImage(reg.request, repo, 'v1');
    await reg.request.get(`/v2/${repo}/manifests/v1`).set('Accept', 'application/vnd.oci.image.manifest.v1+json').expect(200);
    await reg.request.get(`/v2/${repo}/manifests/nope`).expect(404);
    await reg.request.get('/not/a/route').expect(404);
    const text = await scrape();
    assert.equal(sample(text, 'berth_http_requests_total', { method: 'PUT', route: '/v2/{name}/manifests/{reference}', status: '201' }), 1);
    assert.equal(sample(text, 'berth_http_requests_total', { method: 'GET', route: '/v2/{name}/manifests/{reference}', status: '200' }), 1);
    assert.equal(sample(text, 'berth_http_requests_total', { method: 'GET', route: '/v2/{name}/manifests/{reference}', status: '404' }), 1);
    assert.equal(sample(text, 'berth_http_requests_total', { method: 'GET', route: 'unmatched', status: '404' }), 1);
    assert.ok((sample(text, 'berth_http_request_duration_seconds_count', { method: 'PUT', route: '/v2/{name}/manifests/{reference}', status: '201' }) ?? 0) >= 1);
    assert.ok(!text.includes(repo), 'a repository name leaked into the labels');
    assert.ok(!text.includes(image.digest.slice(7)), 'a digest leaked into the labels');
  });

  it('counts bytes received and sent, and blob store operations with their latency', async () => {
    const before = await scrape();
    const received = (t: string) =>
      (sample(t, 'berth_http_received_bytes_total', { route: '/v2/{name}/blobs/uploads/' }) ?? 0) +
      (sample(t, 'berth_http_received_bytes_total', { route: '/v2/{name}/blobs/uploads/{uuid}' }) ?? 0);
    const sent = (t: string) => sample(t, 'berth_http_sent_bytes_total', { route: '/v2/{name}/blobs/{digest}' }) ?? 0;
    const blob = randomBlob(300_000);
    const digest = await pushBlob(reg.request, repo, blob);
    await reg.request.get(`/v2/${repo}/blobs/${digest}`).expect(200);
    const text = await scrape();
    assert.ok(received(text) - received(before) >= blob.length, `received grew by ${received(text) - received(before)}`);
    assert.ok(sent(text) - sent(before) >= blob.length, `sent grew by ${sent(text) - sent(before)}`);
    // A whole blob goes through the staging area (commit_upload) or, on S3, straight to its key (put_blob).
    const stored = (operation: string) => sample(text, 'berth_blob_store_operation_duration_seconds_count', { operation, outcome: 'ok' }) ?? 0;
    assert.ok(stored('commit_upload') + stored('put_blob') >= 1);
    assert.equal(sample(text, 'berth_uploads_in_progress'), 0);
  });

  it('counts blob store errors by operation and kind', async () => {
    const digest = await pushBlob(reg.request, repo, randomBlob(100));
    // The blob vanishes from the store behind the database's back: the read fails as not found.
    await reg.store.delete(digest);
    await reg.request.get(`/v2/${repo}/blobs/${digest}`).expect(404);
    const text = await scrape();
    assert.ok((sample(text, 'berth_blob_store_errors_total', { operation: 'open', kind: 'not_found' }) ?? 0) >= 1, text);
  });

  it('reports the database pool, and GC and auth counters that other parts increment', async () => {
    metrics.recordGc({ outcome: 'success', durationSeconds: 2, deletedBlobs: 3, deletedManifests: 1, freedBytes: 4096 });
    metrics.recordAuthFailure('bad_credentials');
    const text = await scrape();
    assert.ok((sample(text, 'berth_db_pool_connections', { pool: 'query', state: 'total' }) ?? -1) >= 1);
    assert.equal(sample(text, 'berth_db_pool_max_connections', { pool: 'query' }), 16);
    assert.equal(sample(text, 'berth_gc_runs_total', { outcome: 'success' }), 1);
    assert.equal(sample(text, 'berth_gc_deleted_blobs_total'), 3);
    assert.equal(sample(text, 'berth_gc_freed_bytes_total'), 4096);
    assert.equal(sample(text, 'berth_auth_failures_total', { reason: 'bad_credentials' }), 1);
  });

  it('counts an upload in progress while its body streams in', async () => {
    const started = await reg.request.post(`/v2/${repo}/blobs/uploads/`).expect(202);
    const location = started.headers.location as string;
    const server = reg.app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      const { port } = server.address() as { port: number };
      const { request } = await import('node:http');
      const req = request({ host: '127.0.0.1', port, method: 'PATCH', path: location, headers: { 'Content-Type': 'application/octet-stream' } });
      req.on('error', () => {});
      req.write(randomBlob(1000));
      let during: number | undefined;
      for (let i = 0; i < 50 && during !== 1; i++) {
        await new Promise((r) => setTimeout(r, 20));
        during = sample(await scrape(), 'berth_uploads_in_progress');
      }
      assert.equal(during, 1);
      const answered = new Promise((r) => req.once('response', (res) => res.resume().once('end', r)));
      req.end();
      await answered;
      assert.equal(sample(await scrape(), 'berth_uploads_in_progress'), 0);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('metrics on a separate listener (BERTH_METRICS_ADDR)', () => {
  let db: TestDatabase;
  let scratch: string;
  before(async () => {
    db = await createTestDatabase();
    scratch = await mkdtemp(path.join(tmpdir(), 'berth-metrics-'));
  });
  after(async () => {
    await db.drop();
    await rm(scratch, { recursive: true, force: true });
  });

  it('the registry app then has no /metrics; the operations app serves it and the probes', async () => {
    const metrics = new Metrics({ processMetrics: false });
    const store = new FsBlobStore(scratch);
    const app = buildApp({ pool: db.pool, store, logger: silent, metrics, serveMetrics: false });
    await supertest(app.callback()).get('/v2/').expect(200);
    await supertest(app.callback()).get('/metrics').expect(404);
    const ops = supertest(buildOperationsApp({ pool: db.pool, store, metrics }).callback());
    const text = (await ops.get('/metrics').expect(200)).text;
    assert.equal(sample(text, 'berth_http_requests_total', { method: 'GET', route: '/v2/', status: '200' }), 1);
    await ops.get('/healthz').expect(200);
    await ops.get('/readyz').expect(200);
    await ops.get('/v2/').expect(404);
  });
});
