// PostgreSQL goes away under a running app (its connections reset, new ones refused) and comes
// back: registry, API and token requests answer 503 UNAVAILABLE with Retry-After meanwhile, an
// upload cut mid-chunk resumes where its Range says, and everything serves again with no restart.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type Koa from 'koa';
import { pino } from 'pino';
import supertest from 'supertest';
import { buildApp } from '../../src/app.js';
import { createTokenAuth } from '../../src/auth/token-auth.js';
import { CONNECT_TIMEOUT_MS, createPool } from '../../src/db/pool.js';
import { FsBlobStore } from '../../src/storage/fs/fs-blob-store.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { assertErrorCode, pushImage, randomBlob, sha256 } from '../helpers/oci.js';
import { TEST_TOKEN_AUTH } from '../helpers/registry.js';
import { startTcpLink, type TcpLink } from '../helpers/tcp-link.js';
import { openRequest, startUpload, uniqueRepo, withServer } from '../helpers/uploads.js';

function assertUnavailable(res: { status: number; body: unknown; headers: Record<string, unknown> }, what: string): void {
  assert.equal(res.status, 503, `${what}: ${JSON.stringify(res.body)}`);
  assertErrorCode(res, 'UNAVAILABLE');
  assert.match((res.body as { errors: { message: string }[] }).errors[0]!.message, /database is unavailable/);
  assert.equal(res.headers['retry-after'], '5', what);
}

describe('PostgreSQL unreachable while the app runs', () => {
  let db: TestDatabase;
  let link: TcpLink;
  let storeRoot: string;
  let app: Koa;
  let request: ReturnType<typeof supertest.agent>;
  let tokenRequest: ReturnType<typeof supertest.agent>;
  const pools: { end(): Promise<void> }[] = [];

  before(async () => {
    db = await createTestDatabase();
    const url = new URL(db.url);
    link = await startTcpLink({ host: url.hostname, port: Number(url.port) });
    url.port = String(link.port);
    const pool = createPool(url.toString());
    const lockPool = createPool(url.toString(), 4, 0);
    pools.push(pool, lockPool);
    storeRoot = await mkdtemp(path.join(tmpdir(), 'berth-blobs-'));
    const logger = pino({ level: 'silent' });
    app = buildApp({ pool, lockPool, store: new FsBlobStore(storeRoot), logger });
    request = supertest.agent(app.callback());
    const auth = await createTokenAuth(pool, TEST_TOKEN_AUTH, undefined);
    tokenRequest = supertest.agent(buildApp({ pool, store: new FsBlobStore(storeRoot), logger, auth }).callback());
  });
  after(async () => {
    await link.close();
    for (const p of pools) await p.end();
    await db.drop();
    await rm(storeRoot, { recursive: true, force: true });
  });

  it('answers 503 UNAVAILABLE with Retry-After on /v2, /api/v1 and /token, /readyz names the database, and recovers', async () => {
    const repo = uniqueRepo('down');
    const image = await pushImage(request, repo, 'v1');
    await link.cut();
    try {
      assertUnavailable(await request.get(`/v2/${repo}/tags/list`), 'tags list');
      assertUnavailable(await request.get(`/v2/${repo}/manifests/v1`), 'manifest GET');
      const head = await request.head(`/v2/${repo}/blobs/${sha256(image.config)}`);
      assert.equal(head.status, 503, 'blob HEAD');
      assert.equal(head.headers['retry-after'], '5');
      assertUnavailable(await request.post(`/v2/${repo}/blobs/uploads/`), 'upload POST');
      assertUnavailable(await request.get('/v2/_catalog'), 'catalog');
      assertUnavailable(await request.get('/api/v1/repositories'), 'API repositories');
      assertUnavailable(await tokenRequest.get('/token?service=berth-test-registry&scope=repository:x/y:pull'), 'anonymous token');
      const ready = await request.get('/readyz');
      assert.equal(ready.status, 503);
      assert.equal(ready.body.checks.database.ok, false, JSON.stringify(ready.body));
      assert.equal(ready.body.checks.storage.ok, true, JSON.stringify(ready.body));
      // The base endpoint needs no database: clients still find a registry here.
      await request.get('/v2/').expect(200);
    } finally {
      await link.mend();
    }
    const res = await request.get(`/v2/${repo}/manifests/v1`).expect(200);
    assert.equal(res.headers['docker-content-digest'], image.digest);
    await request.get('/readyz').expect(200);
    await tokenRequest.get('/token?service=berth-test-registry&scope=repository:x/y:pull').expect(200);
  });

  it('refuses a chunk whose lock session died mid-stream, and the upload resumes at its Range', async () => {
    const repo = uniqueRepo('cut');
    const blob = randomBlob(3 * 65536);
    const { location } = await startUpload(request, repo);
    const first = blob.subarray(0, 65536);
    await request.patch(location).set('Content-Type', 'application/octet-stream').set('Content-Range', `0-${first.length - 1}`).send(first).expect(202);
    await withServer(app, async ({ port }) => {
      // The second chunk starts streaming, the database goes, then the chunk's last bytes arrive.
      const second = blob.subarray(65536, 2 * 65536);
      const { req, response } = openRequest(port, {
        method: 'PATCH',
        path: location,
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `65536-${2 * 65536 - 1}`, 'Content-Length': String(second.length) },
      });
      req.write(second.subarray(0, 1000));
      await new Promise((resolve) => setTimeout(resolve, 300));
      await link.cut();
      req.end(second.subarray(1000));
      const answer = await response;
      assert.equal(answer.status, 503, answer.body.toString());
      assert.equal(answer.headers['retry-after'], '5');
    });
    await link.mend();
    // Nothing of the refused chunk counts: the client resumes from the Range it is told.
    const status = await request.get(location).expect(204);
    assert.equal(status.headers.range, `0-${65536 - 1}`);
    const rest = blob.subarray(65536);
    await request.patch(location).set('Content-Type', 'application/octet-stream').set('Content-Range', `65536-${blob.length - 1}`).send(rest).expect(202);
    const digest = sha256(blob);
    await request.put(`${location}${location.includes('?') ? '&' : '?'}digest=${digest}`).expect(201);
    const pulled = await request.get(`/v2/${repo}/blobs/${digest}`).buffer(true).expect(200);
    assert.equal(sha256(pulled.body as Buffer), digest);
  });

  it('answers 503 to a chunk whose lock connection cannot be opened (the server drops packets), and takes it once the server answers', async () => {
    const repo = uniqueRepo('silent');
    const blob = randomBlob(2 * 65536);
    const { location } = await startUpload(request, repo);
    // The lock pool waits as long as it takes for a free connection; opening one must still give up.
    await link.blackHole();
    try {
      const res = await request
        .patch(location)
        .set('Content-Type', 'application/octet-stream')
        .set('Content-Range', `0-${blob.length - 1}`)
        .send(blob)
        .timeout(CONNECT_TIMEOUT_MS * 6);
      assertUnavailable(res, 'chunk while the database drops packets');
    } finally {
      await link.mend();
    }
    // Nothing of the refused chunk was taken: the upload is still empty.
    const status = await request.get(location).expect(204);
    assert.equal(status.headers.range, '0-0');
    await request.patch(location).set('Content-Type', 'application/octet-stream').set('Content-Range', `0-${blob.length - 1}`).send(blob).expect(202);
    const digest = sha256(blob);
    await request.put(`${location}${location.includes('?') ? '&' : '?'}digest=${digest}`).expect(201);
    const pulled = await request.get(`/v2/${repo}/blobs/${digest}`).buffer(true).expect(200);
    assert.equal(sha256(pulled.body as Buffer), digest);
  });
});
