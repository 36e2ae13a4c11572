// What the web UI needs from /api/v1, usable without it: repository and tag search, the new listing
// fields (stored size, who changed what, immutable flag, referrers), one image in full, garbage
// collection on demand, webhook deliveries, and the browser session (/api/v1/session): cookies,
// the Origin and CSRF checks, pull-only refusals, a password change ending sessions. Through HTTP.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import supertest from 'supertest';
import { buildApp } from '../../src/app.js';
import { WebhookNotifier } from '../../src/notify/webhooks.js';
import type { WebhookStatus } from '../../src/notify/notifier.js';
import { EMPTY_JSON, buildArtifact, buildIndex, json, pushManifest } from '../helpers/manifests.js';
import { OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, assertErrorCode, descriptorOf, pushBlob, pushImage, randomBlob, sha256, type TestImage } from '../helpers/oci.js';
import { startTestRegistry, type TestRegistry } from '../helpers/registry.js';

const GC = { graceMs: 0, uploadTtlMs: 86_400_000, retention: { windowMs: 86_400_000, keep: 10 } };

function imageWithHistory(label: string): TestImage {
  const config = json({
    architecture: 'arm64',
    os: 'linux',
    config: { Entrypoint: ['/app'], Labels: { version: label } },
    history: [{ created: '2026-01-01T00:00:00Z', created_by: 'COPY app /app' }, { created_by: 'ENV A=1', empty_layer: true }],
    rootfs: { type: 'layers', diff_ids: [] },
  });
  const layers = [randomBlob(700)];
  const manifest = json({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: descriptorOf(config, OCI_CONFIG), layers: layers.map((l) => descriptorOf(l, OCI_LAYER)) });
  return { config, layers, manifest, digest: sha256(manifest) };
}

describe('/api/v1 for the web UI: listings, images, GC, webhooks (BERTH_AUTH=none)', () => {
  let reg: TestRegistry;
  let image: TestImage;
  let signature: string;
  const statuses: WebhookStatus[] = [{ url: 'https://hooks.example/in', events: ['push'], signed: true, queued: 0, recent: [] }];

  before(async () => {
    reg = await startTestRegistry({
      ui: true,
      gc: GC,
      immutableTags: [{ repository: 'team/*', tags: ['v*'] }],
      quotas: [{ repository: 'team/*', bytes: 1_000_000 }, { repository: 'empty/*', bytes: 5 }],
      notifier: { notify() {}, status: async () => statuses },
    });
    image = await pushImage(reg.request, 'team/app_one', 'latest', imageWithHistory('1'));
    await pushImage(reg.request, 'team/app_one', 'v1', image);
    await pushImage(reg.request, 'team/apptwo', 'latest');
    await pushImage(reg.request, 'other/thing', 'latest');
    await pushBlob(reg.request, 'team/app_one', EMPTY_JSON);
    const sig = buildArtifact({ artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json', subject: descriptorOf(image.manifest, OCI_MANIFEST) });
    await pushManifest(reg.request, 'team/app_one', sig.digest, sig.manifest);
    signature = sig.digest;
  });
  after(async () => {
    await reg?.close();
  });

  it('searches repositories by substring, any case, with _ taken literally, and pages with the search kept', async () => {
    const names = async (q: string) => (await reg.request.get(`/api/v1/repositories?q=${encodeURIComponent(q)}`).expect(200)).body.repositories.map((r: { name: string }) => r.name);
    assert.deepEqual(await names('APP'), ['team/app_one', 'team/apptwo']);
    assert.deepEqual(await names('_'), ['team/app_one']);
    assert.deepEqual(await names('%'), []);
    assert.deepEqual(await names('nothing'), []);
    const page = await reg.request.get('/api/v1/repositories?q=app&n=1').expect(200);
    assert.equal(page.body.next, 'team/app_one');
    assert.match(page.headers.link ?? '', /q=app/);
    const rest = await reg.request.get('/api/v1/repositories?q=app&n=1&last=team/app_one').expect(200);
    assert.deepEqual(rest.body.repositories.map((r: { name: string }) => r.name), ['team/apptwo']);
    assertErrorCode(await reg.request.get(`/api/v1/repositories?q=${'x'.repeat(201)}`).expect(400), 'REQUEST_INVALID');
  });

  it('gives each repository its stored size and who changed it last', async () => {
    const res = await reg.request.get('/api/v1/repositories?q=app_one').expect(200);
    const repo = res.body.repositories[0];
    const blobBytes = image.config.length + image.layers.reduce((s, l) => s + l.length, 0) + EMPTY_JSON.length;
    assert.ok(repo.size >= blobBytes + image.manifest.length, `size ${repo.size}`);
    assert.equal(repo.updatedBy, 'anonymous');
  });

  it('gives each tag who changed it, its immutable flag and its referrers, and searches tags', async () => {
    const res = await reg.request.get('/api/v1/repositories/team/app_one/tags').expect(200);
    const byName = Object.fromEntries(res.body.tags.map((t: { name: string }) => [t.name, t]));
    assert.equal(byName.v1.immutable, true);
    assert.equal(byName.latest.immutable, false);
    assert.equal(byName.latest.updatedBy, 'anonymous');
    assert.deepEqual(byName.latest.referrers.map((r: { digest: string }) => r.digest), [signature]);
    assert.equal(byName.latest.referrers[0].artifactType, 'application/vnd.dev.cosign.artifact.sig.v1+json');
    const immutable = await reg.request.get('/api/v1/repositories/team/app_one/tags/v1/history').expect(200);
    assert.deepEqual(immutable.body.immutable, { rule: '#1 (repository "team/*", tags "v*")', repository: 'team/*', tags: ['v*'] });
    assert.equal((await reg.request.get('/api/v1/repositories/team/app_one/tags/latest/history').expect(200)).body.immutable, null);
    const found = await reg.request.get('/api/v1/repositories/team/app_one/tags?q=V').expect(200);
    assert.deepEqual(found.body.tags.map((t: { name: string }) => t.name), ['v1']);
  });

  it('shows one image in full: platform, layers, config summary, build history, raw manifest, referrers', async () => {
    const res = await reg.request.get('/api/v1/repositories/team/app_one/images/latest').expect(200);
    assert.equal(res.body.digest, image.digest);
    assert.equal(res.body.platforms.length, 1);
    const p = res.body.platforms[0];
    assert.equal(p.platform, 'linux/arm64');
    assert.deepEqual(p.layers.map((l: { size: number }) => l.size), [700]);
    assert.deepEqual(p.summary.entrypoint, ['/app']);
    assert.deepEqual(p.summary.labels, { version: '1' });
    assert.deepEqual(p.history.map((h: { createdBy: string }) => h.createdBy), ['COPY app /app', 'ENV A=1']);
    assert.equal(p.history[1].emptyLayer, true);
    assert.deepEqual(res.body.manifest, JSON.parse(image.manifest.toString()));
    assert.deepEqual(res.body.referrers.map((r: { digest: string }) => r.digest), [signature]);
    const byDigest = await reg.request.get(`/api/v1/repositories/team/app_one/images/${image.digest}`).expect(200);
    assert.equal(byDigest.body.digest, image.digest);
    const byRevision = await reg.request.get('/api/v1/repositories/team/app_one/images/latest@1').expect(200);
    assert.equal(byRevision.body.digest, image.digest);
  });

  it('shows an index with each platform', async () => {
    const a = await pushImage(reg.request, 'team/multi', 'amd', imageWithHistory('a'));
    const b = await pushImage(reg.request, 'team/multi', 'arm', imageWithHistory('b'));
    const index = buildIndex([{ manifest: a.manifest }, { manifest: b.manifest }]);
    await pushManifest(reg.request, 'team/multi', 'both', index.manifest, OCI_INDEX);
    const res = await reg.request.get('/api/v1/repositories/team/multi/images/both').expect(200);
    assert.equal(res.body.mediaType, OCI_INDEX);
    assert.deepEqual(res.body.platforms.map((p: { platform: string; digest: string }) => [p.platform, p.digest]), [
      ['linux/amd64', a.digest],
      ['linux/arm64', b.digest],
    ]);
  });

  it('refuses bad image references with the OCI code', async () => {
    assertErrorCode(await reg.request.get('/api/v1/repositories/team/app_one/images/no!such').expect(400), 'REQUEST_INVALID');
    assertErrorCode(await reg.request.get('/api/v1/repositories/team/app_one/images/missing').expect(404), 'TAG_UNKNOWN');
    assertErrorCode(await reg.request.get('/api/v1/repositories/team/app_one/images/latest@99').expect(404), 'REVISION_UNKNOWN');
    assertErrorCode(await reg.request.get(`/api/v1/repositories/team/app_one/images/sha256:${'0'.repeat(64)}`).expect(404), 'MANIFEST_UNKNOWN');
    assertErrorCode(await reg.request.get('/api/v1/repositories/no/such/images/latest').expect(404), 'NAME_UNKNOWN');
  });

  it('runs a garbage collection dry run and a collection on demand, and reports the last one', async () => {
    await pushBlob(reg.request, 'team/apptwo', randomBlob(333));
    const dry = await reg.request.post('/api/v1/gc').set('Content-Type', 'application/json').send('{"dryRun":true}').expect(200);
    assert.equal(dry.body.dryRun, true);
    assert.ok(dry.body.blobsDeleted >= 1, JSON.stringify(dry.body));
    const last = await reg.request.get('/api/v1/gc').expect(200);
    assert.equal(last.body.available, true);
    assert.equal(last.body.last.dryRun, true);
    const run = await reg.request.post('/api/v1/gc').set('Content-Type', 'application/json').send('{}').expect(200);
    assert.equal(run.body.dryRun, false);
    assert.equal(run.body.blobsDeleted, dry.body.blobsDeleted);
    assertErrorCode(await reg.request.post('/api/v1/gc').set('Content-Type', 'application/json').send('{"dryRun":"yes"}').expect(400), 'REQUEST_INVALID');
    assertErrorCode(await reg.request.post('/api/v1/gc').set('Content-Type', 'application/json').send('{"now":true}').expect(400), 'REQUEST_INVALID');
    assertErrorCode(await reg.request.post('/api/v1/gc').set('Content-Type', 'application/json').send('[1').expect(400), 'REQUEST_INVALID');
    assertErrorCode(await reg.request.put('/api/v1/gc').expect(405), 'UNSUPPORTED');
  });

  it('lists every quota with what its repositories use together', async () => {
    const res = await reg.request.get('/api/v1/quotas').expect(200);
    const team = (await reg.request.get('/api/v1/repositories/team/app_one/usage').expect(200)).body.quotas[0];
    assert.deepEqual(res.body.quotas, [team, { repository: 'empty/*', bytes: 5, used: 0 }]);
    assert.ok(team.used > 0);
  });

  it('lists the repositories that store the most, largest first, whatever their names', async () => {
    // Many small repositories that sort before the large ones by name: the largest must still come first.
    await reg.db.pool.query(`INSERT INTO repositories (name) SELECT 'aaa/empty-' || i FROM generate_series(1, 30) i`);
    const res = await reg.request.get('/api/v1/storage?n=3').expect(200);
    const sizes = res.body.repositories.map((r: { size: number }) => r.size);
    assert.equal(sizes.length, 3);
    assert.deepEqual([...sizes].sort((a, b) => b - a), sizes);
    const listed = (await reg.request.get('/api/v1/repositories?n=100').expect(200)).body.repositories as { name: string; size: number }[];
    const expected = listed.filter((r) => r.size > 0).sort((a, b) => b.size - a.size || (a.name < b.name ? -1 : 1)).slice(0, 3);
    assert.deepEqual(res.body.repositories, expected.map(({ name, size }) => ({ name, size })));
    assert.ok(!res.body.repositories.some((r: { name: string }) => r.name.startsWith('aaa/')));
    assertErrorCode(await reg.request.get('/api/v1/storage?n=0').expect(400), 'PAGINATION_NUMBER_INVALID');
    assertErrorCode(await reg.request.get('/api/v1/storage?n=x').expect(400), 'PAGINATION_NUMBER_INVALID');
    assertErrorCode(await reg.request.post('/api/v1/storage').expect(405), 'UNSUPPORTED');
  });

  it('lists webhook receivers with their recent deliveries', async () => {
    const res = await reg.request.get('/api/v1/webhooks').expect(200);
    assert.deepEqual(res.body.webhooks, statuses);
  });

  it('says the registry is open, and has nothing to sign in to', async () => {
    const res = await reg.request.get('/api/v1/session').expect(200);
    assert.equal(res.body.auth, 'none');
    assert.equal(res.body.user, null);
    const signIn = reg.request.post('/api/v1/session').set('Host', 'berth.test').set('Origin', 'http://berth.test');
    assertErrorCode(await signIn.set('Content-Type', 'application/json').send('{"username":"a","password":"b"}').expect(405), 'UNSUPPORTED');
  });
});

describe('the administration page state is shared: every replica shows the same GC report and webhook deliveries', () => {
  let reg: TestRegistry;
  let receiver: Server;
  let receiverUrl: string;
  let calls = 0;
  const notifiers: WebhookNotifier[] = [];
  /** Another Berth process on the same database and store: its own notifier, nothing in memory. */
  const replica = () => {
    const notifier = new WebhookNotifier([{ url: receiverUrl, events: ['push'], secret: undefined }], {
      source: { addr: '127.0.0.1:5000', instanceID: `replica-${notifiers.length}` },
      logger: pino({ level: 'silent' }),
      backoffMs: 20,
      db: reg.db.pool,
    });
    notifiers.push(notifier);
    const app = buildApp({ pool: reg.db.pool, store: reg.newStore(), logger: pino({ level: 'silent' }), ui: true, gc: GC, notifier });
    return { notifier, request: supertest(app.callback()) };
  };

  before(async () => {
    // The first attempt fails (500), the retry is taken: two records.
    receiver = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        calls += 1;
        res.statusCode = calls === 1 ? 500 : 204;
        res.end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    reg = await startTestRegistry({ ui: true, gc: GC });
  });
  after(async () => {
    await Promise.all(notifiers.map((n) => n.close(0)));
    receiver?.close();
    await reg?.close();
  });

  it('shows a collection one replica ran on another, and on a replica started afterwards', async () => {
    const [a, b] = [replica(), replica()];
    assert.equal((await b.request.get('/api/v1/gc').expect(200)).body.last, null);
    await pushBlob(reg.request, 'team/app', randomBlob(321));
    const ran = (await a.request.post('/api/v1/gc').set('Content-Type', 'application/json').send('{"dryRun":true}').expect(200)).body;
    assert.ok(ran.blobsDeleted >= 1);
    const seen = (await b.request.get('/api/v1/gc').expect(200)).body.last;
    assert.deepEqual(seen, ran);
    assert.deepEqual((await replica().request.get('/api/v1/gc').expect(200)).body.last, ran);
    // What every replica reads is the database's: replicas in one test process share module state,
    // so show the report goes with the row.
    await reg.db.pool.query('DELETE FROM gc_reports');
    assert.equal((await a.request.get('/api/v1/gc').expect(200)).body.last, null);
  });

  it('shows the deliveries one replica made on every replica, newest first, and after a restart', async () => {
    const [a, b] = [replica(), replica()];
    await pushImage(a.request, 'team/hooked', 'latest');
    await a.notifier.close(30_000);
    assert.equal(calls, 2, 'one failed attempt, one delivered');
    const onB = (await b.request.get('/api/v1/webhooks').expect(200)).body.webhooks;
    assert.equal(onB.length, 1);
    assert.equal(onB[0].url, receiverUrl);
    assert.equal(onB[0].queued, 0);
    assert.deepEqual(onB[0].recent.map((r: { outcome: string; attempt: number }) => [r.outcome, r.attempt]), [['delivered', 2], ['retry', 1]]);
    assert.equal(onB[0].recent[1].problem, 'HTTP 500');
    assert.deepEqual(onB[0].recent[0].actions, ['push']);
    assert.deepEqual((await replica().request.get('/api/v1/webhooks').expect(200)).body.webhooks[0].recent, onB[0].recent);
  });
});

describe('/api/v1/session: browser sign-in with BERTH_AUTH=token', () => {
  let reg: TestRegistry;
  const HOST = 'berth.test';
  const ORIGIN = `http://${HOST}`;
  /** Requests without the agent's cookie jar: each carries exactly the cookies it is given. */
  const http = () => supertest(reg.app.callback());

  before(async () => {
    reg = await startTestRegistry({ tokenAuth: {}, ui: true, gc: GC, trustProxy: true });
    await reg.auth!.accounts.addUser('root', 'root-password-1', true);
    await reg.auth!.accounts.addUser('bob', 'bob-password-1');
    await reg.auth!.accounts.grant('bob', { pattern: 'team/*', actions: ['pull'] });
    const token = (await reg.auth!.issuer.access({ subject: 'root', kind: 'user' }, [
      { type: 'repository', name: 'team/app', actions: ['pull', 'push'] },
      { type: 'repository', name: 'other/app', actions: ['pull', 'push'] },
    ])).token;
    const pusher = supertest.agent(reg.app.callback()).set('Authorization', `Bearer ${token}`);
    await pushImage(pusher, 'team/app', 'prod');
    await pushImage(pusher, 'team/app', 'prod');
    await pushImage(pusher, 'other/app', 'prod');
  });
  after(async () => {
    await reg?.close();
  });

  const signIn = (user: string, password: string, headers: Record<string, string> = { Origin: ORIGIN }) =>
    http().post('/api/v1/session').set('Host', HOST).set(headers).set('Content-Type', 'application/json').send(JSON.stringify({ username: user, password }));

  /** The cookies a sign-in set, as a Cookie header, and the CSRF token. */
  async function session(user: string, password: string): Promise<{ cookie: string; csrf: string }> {
    const res = await signIn(user, password).expect(200);
    const set = res.headers['set-cookie'] as unknown as string[];
    const cookie = set.map((c) => c.split(';')[0]!).join('; ');
    return { cookie, csrf: /berth_csrf=([^;]+)/.exec(cookie)![1]! };
  }

  it('signs in through the same login as docker login, setting an HttpOnly, SameSite=Strict, expiring cookie', async () => {
    assertErrorCode(await signIn('bob', 'wrong-password').expect(401), 'UNAUTHORIZED');
    assertErrorCode(await signIn('bob', 'x', {}).expect(403), 'DENIED');
    assertErrorCode(await signIn('bob', 'bob-password-1', { Origin: 'http://evil.example' }).expect(403), 'DENIED');
    assertErrorCode(
      await http().post('/api/v1/session').set('Host', HOST).set('Origin', ORIGIN).set('Content-Type', 'application/json').send('{"username":"bob"}').expect(400),
      'REQUEST_INVALID',
    );
    const res = await signIn('bob', 'bob-password-1').expect(200);
    assert.equal(res.body.user.name, 'bob');
    assert.equal(res.body.registry, HOST);
    const set = res.headers['set-cookie'] as unknown as string[];
    const sessionCookie = set.find((c) => c.startsWith('berth_session='))!;
    assert.match(sessionCookie, /; HttpOnly/);
    assert.match(sessionCookie, /; SameSite=Strict/);
    assert.match(sessionCookie, /; Max-Age=604800/, 'the cookie lives as long as the session may: 7 days');
    assert.match(sessionCookie, /^berth_session=[A-Za-z0-9_-]{43};/, 'a random secret, not a token');
    const expiresIn = Date.parse(res.body.expiresAt) - Date.now();
    assert.ok(expiresIn > 6.9 * 86_400_000 && expiresIn <= 7 * 86_400_000, res.body.expiresAt);
    assert.doesNotMatch(sessionCookie, /; Secure/, 'plain http: no Secure flag');
    assert.doesNotMatch(set.find((c) => c.startsWith('berth_csrf='))!, /HttpOnly/);
  });

  it('marks the cookie Secure behind a TLS-terminating proxy', async () => {
    const res = await signIn('bob', 'bob-password-1', { Origin: `https://${HOST}`, 'X-Forwarded-Proto': 'https' }).expect(200);
    assert.match((res.headers['set-cookie'] as unknown as string[])[0]!, /; Secure/);
  });

  it('authorises /api/v1 calls with the session only when the UI sent them', async () => {
    const { cookie } = await session('bob', 'bob-password-1');
    const ui = await http().get('/api/v1/repositories').set('Cookie', cookie).set('X-Berth-UI', '1').expect(200);
    assert.deepEqual(ui.body.repositories.map((r: { name: string }) => r.name), ['team/app'], 'bob sees only what he may pull');
    await http().get('/api/v1/repositories/other/app/tags').set('Cookie', cookie).set('X-Berth-UI', '1').expect(403);
    await http().get('/api/v1/repositories').set('Cookie', cookie).expect(401);
    const anonymous = await http().get('/api/v1/repositories').set('X-Berth-UI', '1').expect(200);
    assert.deepEqual(anonymous.body.repositories, [], 'anonymous may pull nothing here');
    const me = await http().get('/api/v1/session?repository=team/app').set('Cookie', cookie).expect(200);
    assert.deepEqual(me.body.actions, ['pull']);
  });

  it('refuses state-changing calls without our Origin or the CSRF token, and a pull-only rollback', async () => {
    const bob = await session('bob', 'bob-password-1');
    const root = await session('root', 'root-password-1');
    const rollback = (s: { cookie: string; csrf?: string }, origin: string | undefined) => {
      const req = http().post('/api/v1/repositories/team/app/tags/prod/rollback').set('Host', HOST).set('Cookie', s.cookie).set('X-Berth-UI', '1');
      if (s.csrf) req.set('X-Berth-CSRF', s.csrf);
      if (origin) req.set('Origin', origin);
      return req.set('Content-Type', 'application/json').send('{"to":"previous","reason":"test"}');
    };
    assert.match((await rollback({ cookie: root.cookie }, ORIGIN).expect(403)).body.errors[0].message, /cross-site request refused/);
    assert.match((await rollback(root, 'http://evil.example').expect(403)).body.errors[0].message, /cross-site request refused/);
    assert.match((await rollback(root, undefined).expect(403)).body.errors[0].message, /cross-site request refused/);
    assert.match((await rollback({ cookie: root.cookie, csrf: bob.csrf }, ORIGIN).expect(403)).body.errors[0].message, /CSRF/);
    assertErrorCode(await rollback(bob, ORIGIN).expect(403), 'DENIED');
    // Anonymous (no cookie): another Origin is refused as cross-site, ours gets the plain 401.
    assert.match((await rollback({ cookie: '' }, 'http://evil.example').expect(403)).body.errors[0].message, /cross-site request refused/);
    assertErrorCode(await rollback({ cookie: '' }, ORIGIN).expect(401), 'UNAUTHORIZED');
    const done = await rollback(root, ORIGIN).expect(200);
    assert.equal(done.body.event.actor, 'root');
    assert.equal(done.body.event.reason, 'test');
  });

  it('lets only administrators use the management API and GC through a session', async () => {
    const bob = await session('bob', 'bob-password-1');
    const root = await session('root', 'root-password-1');
    await http().get('/api/v1/users').set('Cookie', bob.cookie).set('X-Berth-UI', '1').expect(403);
    await http().get('/api/v1/gc').set('Cookie', bob.cookie).set('X-Berth-UI', '1').expect(403);
    await http().get('/api/v1/gc').set('X-Berth-UI', '1').expect(401);
    await http().get('/api/v1/gc').expect(401);
    const users = await http().get('/api/v1/users').set('Cookie', root.cookie).set('X-Berth-UI', '1').expect(200);
    assert.ok(users.body.users.some((u: { name: string }) => u.name === 'bob'));
    await http().get('/api/v1/webhooks').set('Cookie', root.cookie).set('X-Berth-UI', '1').expect(200);
    await http().get('/api/v1/quotas').set('Cookie', bob.cookie).set('X-Berth-UI', '1').expect(403);
    await http().get('/api/v1/storage').set('Cookie', bob.cookie).set('X-Berth-UI', '1').expect(403);
    await http().get('/api/v1/storage').set('Cookie', root.cookie).set('X-Berth-UI', '1').expect(200);
  });

  const whoIs = (cookie: string) => http().get('/api/v1/session').set('Cookie', cookie);
  const signOut = (s: { cookie: string; csrf: string }) =>
    http().delete('/api/v1/session').set('Host', HOST).set('Cookie', s.cookie).set('Origin', ORIGIN).set('X-Berth-CSRF', s.csrf);
  /** The 401 a cookie whose session ended gets, which also clears the cookies. */
  const assertEnded = (res: supertest.Response) => {
    assertErrorCode(res, 'UNAUTHORIZED');
    assert.match(res.body.errors[0].message, /session has ended/);
    assert.ok((res.headers['set-cookie'] as unknown as string[]).every((c) => /Max-Age=0/.test(c)), 'the cookies are cleared');
  };
  const sessionSecret = (cookie: string) => /berth_session=([^;]+)/.exec(cookie)![1]!;

  it('signs out on the server: the old cookie replayed gets 401, for the session and for every API call', async () => {
    const bob = await session('bob', 'bob-password-1');
    assert.equal((await whoIs(bob.cookie).expect(200)).body.user.name, 'bob');
    await http().delete('/api/v1/session').set('Host', HOST).set('Cookie', bob.cookie).set('Origin', ORIGIN).expect(403);
    const out = await signOut(bob).expect(204);
    assert.ok((out.headers['set-cookie'] as unknown as string[]).every((c) => /Max-Age=0/.test(c)));
    assertEnded(await whoIs(bob.cookie).expect(401));
    assertEnded(await http().get('/api/v1/repositories').set('Cookie', bob.cookie).set('X-Berth-UI', '1').expect(401));
    // Signing out twice, or with a cookie of any shape, is harmless.
    await signOut(bob).expect(204);
    await signOut({ cookie: 'berth_session=not%20a%20secret; berth_csrf=' + bob.csrf, csrf: bob.csrf }).expect(204);
    assertEnded(await whoIs('berth_session=not%20a%20secret').expect(401));
  });

  it('ends sessions after 12 hours idle and 7 days after sign-in, and keeps a used one alive', async () => {
    const idle = await session('bob', 'bob-password-1');
    const old = await session('bob', 'bob-password-1');
    const used = await session('bob', 'bob-password-1');
    const age = (s: { cookie: string }, column: string, by: string) =>
      reg.db.pool.query(`UPDATE browser_sessions SET ${column} = ${column} - interval '${by}' WHERE id = sha256(convert_to($1, 'UTF8'))`, [sessionSecret(s.cookie)]);
    await age(idle, 'last_seen_at', '12 hours 1 second');
    await age(old, 'expires_at', '7 days');
    await age(used, 'last_seen_at', '11 hours');
    assertEnded(await whoIs(idle.cookie).expect(401));
    assertEnded(await whoIs(old.cookie).expect(401));
    assert.equal((await whoIs(used.cookie).expect(200)).body.user.name, 'bob');
    // That request counted as use: 11 hours later (13 since the first), it still signs bob in.
    await age(used, 'last_seen_at', '11 hours');
    assert.equal((await whoIs(used.cookie).expect(200)).body.user.name, 'bob');
  });

  it('refuses the cookie at /token and as a bearer token: it is a session, not a credential', async () => {
    const bob = await session('bob', 'bob-password-1');
    const secret = sessionSecret(bob.cookie);
    const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: secret, service: 'berth-test-registry', scope: 'repository:team/app:pull' });
    assertErrorCode(await http().post('/token').set('Content-Type', 'application/x-www-form-urlencoded').send(form.toString()).expect(401), 'UNAUTHORIZED');
    assertErrorCode(await http().get('/v2/team/app/tags/list').set('Authorization', `Bearer ${secret}`).expect(401), 'UNAUTHORIZED');
    assertErrorCode(await http().get('/api/v1/repositories').set('Authorization', `Bearer ${secret}`).expect(401), 'UNAUTHORIZED');
    // With only the cookie, /token sees an anonymous client: its token grants nothing here.
    const anonymous = await http().get('/token?service=berth-test-registry&scope=repository:team/app:pull').set('Cookie', bob.cookie).expect(200);
    const claims = JSON.parse(Buffer.from(anonymous.body.token.split('.')[1], 'base64url').toString());
    assert.notEqual(claims.sub, 'bob');
    assert.deepEqual(claims.access.flatMap((a: { actions: string[] }) => a.actions), []);
    const { rows } = await reg.db.pool.query('SELECT count(*)::int AS n FROM browser_sessions WHERE id = convert_to($1, \'UTF8\')', [secret]);
    assert.equal(rows[0].n, 0, 'the database keeps only a hash of the secret');
  });

  it('ends every session when the password changes, and when the account is deleted', async () => {
    const bob = await session('bob', 'bob-password-1');
    assert.equal((await whoIs(bob.cookie).expect(200)).body.user.name, 'bob');
    await reg.auth!.accounts.setPassword('bob', 'bob-password-2');
    assertEnded(await whoIs(bob.cookie).expect(401));
    const again = await session('bob', 'bob-password-2');
    await reg.auth!.accounts.setPassword('bob', 'bob-password-1');

    await reg.auth!.accounts.addUser('carol', 'carol-password-1');
    const carol = await session('carol', 'carol-password-1');
    await reg.auth!.accounts.remove('carol', 'user');
    assertEnded(await whoIs(carol.cookie).expect(401));
    assertEnded(await whoIs(again.cookie).expect(401));
  });
});
