// End-to-end: Berth as a pull-through cache of a real upstream registry (CNCF Distribution with
// htpasswd auth, behind a front that logs and can fail requests). What a client sees, and what
// the upstream sees: the request counts come from the front's log.
//
// Run: npm test -- test/e2e/proxy-cache.test.ts
// Needs: docker-registry and htpasswd (scripts/install-test-deps.sh), DATABASE_URL (npm test sets it).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { getBlob, getManifest, headBlob, headManifest, listTags, registryRequest, startRegistry, type RegistryInstance } from '../helpers/berth-process.js';
import { buildImage, imageOf, sha256, type TestImage } from '../helpers/oci.js';
import { runCli } from '../helpers/berth-cli.js';
import { assertTools, describeRun, suiteSkip } from '../helpers/system-tools.js';
import { testStorage } from '../helpers/registry.js';
import { waitFor } from '../helpers/uploads.js';
import { CUT_AFTER_BYTES, startUpstream, UPSTREAM_TOOLS, type Upstream } from '../helpers/upstream-registry.js';

const TAG_TTL_MS = 2000;

/** A blob GET whose bytes can be watched as they arrive. */
function openBlob(
  from: RegistryInstance,
  repo: string,
  digest: string,
): { received: () => number; cancel: () => void; done: Promise<{ status: number; body: Buffer; complete: boolean }> } {
  const chunks: Buffer[] = [];
  let received = 0;
  let req: http.ClientRequest;
  const done = new Promise<{ status: number; body: Buffer; complete: boolean }>((resolve) => {
    req = http.get(`${from.url}/v2/${repo}/blobs/${digest}`, (res) => {
      res.on('data', (c: Buffer) => {
        chunks.push(c);
        received += c.length;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), complete: res.complete }));
      // A response cut short: what came, marked incomplete.
      res.on('error', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), complete: false }));
    });
    req.on('error', () => resolve({ status: 0, body: Buffer.concat(chunks), complete: false }));
  });
  return { received: () => received, cancel: () => req.destroy(), done };
}

describe('pull-through cache against a real upstream', { skip: suiteSkip(UPSTREAM_TOOLS) }, () => {
  let upstream: Upstream;
  let berth: RegistryInstance;

  before(async () => {
    assertTools(UPSTREAM_TOOLS);
    upstream = await startUpstream();
    const proxies = [
      {
        prefix: 'hub',
        upstream: upstream.url,
        mirror: true,
        library: true,
        username: upstream.credentials.username,
        password: upstream.credentials.password,
        tagTtl: `${TAG_TTL_MS / 1000}s`,
        keep: '30d',
        timeout: '3s',
      },
      // Same upstream, content kept for a second only: garbage collection evicts it.
      { prefix: 'brief', upstream: upstream.url, username: upstream.credentials.username, password: upstream.credentials.password, keep: '1s' },
      // Same upstream under a quota (BERTH_QUOTAS below).
      { prefix: 'capped', upstream: upstream.url, username: upstream.credentials.username, password: upstream.credentials.password },
    ];
    const quotas = [{ repository: 'capped/*', bytes: '3MiB' }];
    berth = await startRegistry({ env: { BERTH_PROXIES: JSON.stringify(proxies), BERTH_QUOTAS: JSON.stringify(quotas), LOG_LEVEL: 'info' } });
  });

  after(async () => {
    await berth?.destroy();
    await upstream?.destroy();
  });

  /**
   * An image of one new random layer of `bytes`, pushed upstream as `<repo>:v1`, whose manifest Berth
   * has cached (the layer not yet): the upstream's log is cleared. Returns the layer.
   */
  async function cachedManifestOfNewLayer(repo: string, bytes: number): Promise<Buffer> {
    const layer = randomBytes(bytes);
    await upstream.push(repo, 'v1', imageOf(buildImage({ layers: 0 }).config, [layer]));
    assert.equal((await getManifest(berth, `hub/${repo}`, 'v1')).status, 200);
    upstream.clearLog();
    return layer;
  }

  const explain = () => `--- berth output (tail) ---\n${berth.output().slice(-3000)}`;

  /** Pulls manifest and every blob of `image` from Berth and checks the bytes. */
  async function pullAll(repo: string, tag: string, image: TestImage, from: RegistryInstance = berth): Promise<void> {
    const m = await getManifest(from, repo, tag);
    assert.equal(m.status, 200, `${m.describe}\n${explain()}`);
    assert.equal(sha256(m.body), image.digest);
    for (const blob of [image.config, ...image.layers]) {
      const b = await getBlob(from, repo, sha256(blob));
      assert.equal(b.status, 200, `${b.describe}\n${explain()}`);
      assert.ok(b.body.equals(blob), `blob ${sha256(blob)} differs`);
    }
  }

  it('pulls an image through the prefix, then serves it again without any upstream GET', async () => {
    const image = buildImage({ layers: 3 });
    await upstream.push('team/app', 'v1', image);
    upstream.clearLog();
    await pullAll('hub/team/app', 'v1', image);
    assert.equal(upstream.count('GET', '/blobs/'), 4, 'one upstream GET per blob');
    upstream.clearLog();
    await pullAll('hub/team/app', 'v1', image);
    await pullAll('hub/team/app', image.digest, image);
    assert.equal(upstream.log.length, 0, 'a warm pull within the tag TTL costs no upstream request');
    assert.deepEqual(await listTags(berth, 'hub/team/app'), ['v1']);
    const catalog = await registryRequest(berth, 'GET', '/v2/_catalog');
    assert.ok((JSON.parse(catalog.body.toString()) as { repositories: string[] }).repositories.includes('hub/team/app'));
  });

  it('answers the short Docker Hub form and, as a mirror, names without a prefix', async () => {
    const image = buildImage({ layers: 1 });
    await upstream.push('library/tool', '3.20', image);
    await pullAll('hub/tool', '3.20', image);
    await pullAll('library/tool', '3.20', image); // what dockerd sends to a registry mirror
    // A repository of the team's own under the same kind of name is served as it is, not mirrored.
    const own = buildImage({ layers: 1 });
    for (const blob of [own.config, ...own.layers]) {
      const r = await registryRequest(berth, 'POST', `/v2/library/ours/blobs/uploads/?digest=${sha256(blob)}`, {
        headers: { 'Content-Type': 'application/octet-stream' },
        body: blob,
      });
      assert.equal(r.status, 201, r.describe);
    }
    const put = await registryRequest(berth, 'PUT', '/v2/library/ours/manifests/v1', {
      headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
      body: own.manifest,
    });
    assert.equal(put.status, 201, put.describe);
    upstream.clearLog();
    await pullAll('library/ours', 'v1', own);
    assert.equal(upstream.log.length, 0);
  });

  it('a quota caps a cached prefix: an image that would take it past its allowance is not cached', async () => {
    const image = (fill: number) => {
      const layer = Buffer.alloc(2 * 1024 * 1024, fill);
      layer.write(`quota ${fill} ${Date.now()} ${Math.random()}`);
      return imageOf(buildImage({ layers: 0 }).config, [layer]);
    };
    const first = image(1);
    const second = image(2);
    await upstream.push('team/q1', 'v1', first);
    await upstream.push('team/q2', 'v1', second);
    await pullAll('capped/team/q1', 'v1', first);
    // The first client gets a layer while it is still being stored; a HEAD waits until it is.
    for (const blob of [first.config, ...first.layers]) assert.equal((await headBlob(berth, 'capped/team/q1', sha256(blob))).status, 200);
    const refused = await getManifest(berth, 'capped/team/q2', 'v1');
    assert.equal(refused.status, 403, refused.describe);
    assert.match(refused.body.toString(), /quota exceeded/);
    const blob = await getBlob(berth, 'capped/team/q2', sha256(second.layers[0]!));
    assert.notEqual(blob.status, 200, 'nothing of the refused image is served from the capped prefix');
  });

  it('refuses pushes into the cached prefix, naming the upstream', async () => {
    const r = await registryRequest(berth, 'POST', '/v2/hub/team/app/blobs/uploads/');
    assert.equal(r.status, 403, r.describe);
    const body = JSON.parse(r.body.toString()) as { errors: { code: string; message: string }[] };
    assert.equal(body.errors[0]!.code, 'DENIED');
    assert.match(body.errors[0]!.message, /pull-through cache of http:\/\/127\.0\.0\.1:\d+: it is read-only/);
    const m = await registryRequest(berth, 'PUT', '/v2/hub/team/app/manifests/x', { headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' }, body: '{}' });
    assert.equal(m.status, 403, m.describe);
  });

  it('picks up a tag moved upstream after the freshness period, not before, with one HEAD', async () => {
    const first = buildImage({ layers: 1 });
    const second = buildImage({ layers: 1 });
    await upstream.push('team/moving', 'latest', first);
    await pullAll('hub/team/moving', 'latest', first);
    await upstream.push('team/moving', 'latest', second);
    upstream.clearLog();
    const early = await getManifest(berth, 'hub/team/moving', 'latest');
    assert.equal(sha256(early.body), first.digest, 'within the TTL the cached tag is served');
    assert.equal(upstream.log.length, 0, 'within the TTL the upstream is not asked');
    await sleep(TAG_TTL_MS + 500);
    upstream.clearLog();
    await pullAll('hub/team/moving', 'latest', second);
    assert.equal(upstream.count('HEAD', '/manifests/latest'), 1, JSON.stringify(upstream.log));
    assert.equal(upstream.count('GET', '/manifests/latest'), 1, 'the moved tag is fetched anew');
    // Unchanged upstream after the TTL: one HEAD, no GET.
    await sleep(TAG_TTL_MS + 500);
    upstream.clearLog();
    await pullAll('hub/team/moving', 'latest', second);
    assert.deepEqual(
      upstream.log.map((l) => `${l.method} ${l.path}`),
      ['HEAD /v2/team/moving/manifests/latest'],
    );
    // The tag's history shows what the upstream tag pointed to.
    const history = await registryRequest(berth, 'GET', '/api/v1/repositories/hub/team/moving/tags/latest/history');
    assert.equal(history.status, 200, history.describe);
    const text = history.body.toString();
    assert.ok(text.includes(first.digest) && text.includes(second.digest), text);
  });

  for (const mode of ['503', '429', 'down', 'hang'] as const) {
    it(`serves cached tags stale while the upstream ${mode === 'down' ? 'refuses connections' : mode === 'hang' ? 'does not answer' : `answers ${mode}`}; never-cached content fails naming it`, { timeout: 60_000 }, async () => {
      const image = buildImage({ layers: 1 });
      const repo = `team/stale-${mode}`;
      await upstream.push(repo, 'v1', image);
      await pullAll(`hub/${repo}`, 'v1', image);
      await upstream.push(repo, 'never-pulled', buildImage({ layers: 1 }));
      await sleep(TAG_TTL_MS + 500);
      upstream.mode = mode;
      try {
        const m = await getManifest(berth, `hub/${repo}`, 'v1');
        assert.equal(m.status, 200, `${m.describe}\n${explain()}`);
        assert.equal(sha256(m.body), image.digest);
        assert.match(m.headers.get('warning') ?? '', /^110 berth "Response is Stale: /);
        const h = await headManifest(berth, `hub/${repo}`, 'v1');
        assert.equal(h.status, 200, h.describe);
        await pullAll(`hub/${repo}`, image.digest, image);
        const missing = await getManifest(berth, `hub/${repo}`, 'never-pulled');
        const expected = mode === '429' ? 429 : 503;
        assert.equal(missing.status, expected, missing.describe);
        assert.match(missing.body.toString(), new RegExp(upstream.url.replace(/[.:/]/g, '\\$&')));
        if (mode === '429') assert.equal(missing.headers.get('retry-after'), '7');
      } finally {
        upstream.mode = 'pass';
      }
      const metrics = await registryRequest(berth, 'GET', '/metrics');
      assert.match(metrics.body.toString(), /berth_proxy_stale_served_total\{prefix="hub",reason="[^"]+"\} [1-9]/);
    });
  }

  it('keeps serving cached tags while the upstream process is stopped', { timeout: 60_000 }, async () => {
    const image = buildImage({ layers: 2 });
    await upstream.push('team/stopped', 'v1', image);
    await pullAll('hub/team/stopped', 'v1', image);
    await sleep(TAG_TTL_MS + 500);
    await upstream.stopRegistry();
    try {
      await pullAll('hub/team/stopped', 'v1', image);
      const unknown = await getManifest(berth, 'hub/team/never', 'v1');
      assert.equal(unknown.status, 503, unknown.describe);
    } finally {
      await upstream.startRegistry();
    }
  });

  it('a blob download that breaks off upstream leaves nothing half-visible; the next pull fetches it whole', { timeout: 60_000 }, async () => {
    const layer = Buffer.alloc(4 * 1024 * 1024, 7);
    layer.write(`cut ${Date.now()} ${Math.random()}`);
    const image = imageOf(buildImage({ layers: 0 }).config, [layer]);
    await upstream.push('team/cut', 'v1', image);
    const m = await getManifest(berth, 'hub/team/cut', 'v1');
    assert.equal(m.status, 200, m.describe);
    upstream.mode = 'cut';
    try {
      const broken = await getBlob(berth, 'hub/team/cut', sha256(layer)).then(
        (a) => a.body.length,
        () => -1,
      );
      assert.notEqual(broken, layer.length, 'the first client cannot have received the whole blob');
    } finally {
      upstream.mode = 'pass';
    }
    upstream.clearLog();
    const again = await getBlob(berth, 'hub/team/cut', sha256(layer));
    assert.equal(again.status, 200, `${again.describe}\n${explain()}`);
    assert.ok(again.body.equals(layer), 'the blob served after the break is whole');
    assert.equal(upstream.count('GET', `/blobs/${sha256(layer)}`), 1, 'nothing of the broken download was kept as the blob');
    assert.equal(berth.running(), true);
  });

  it('a client asking for a layer while its download runs gets its first bytes before the download ends, one upstream GET', { timeout: 60_000 }, async () => {
    const layer = await cachedManifestOfNewLayer('team/follow', 4 * 1024 * 1024);
    upstream.mode = 'hold';
    let second: ReturnType<typeof openBlob>;
    try {
      const first = openBlob(berth, 'hub/team/follow', sha256(layer));
      await waitFor(async () => first.received() > 0, 'the first client to get bytes while the upstream holds the rest');
      second = openBlob(berth, 'hub/team/follow', sha256(layer));
      // The upstream still holds all but its first 256 KiB: these bytes came from the staged file
      // (fs) or the download's spool (S3, whose staged parts cannot be read before they complete).
      await waitFor(async () => second.received() > 0, `the second client to get bytes before the download ended (${testStorage()})`);
      assert.ok(second.received() <= CUT_AFTER_BYTES, `${second.received()} bytes before the upstream sent more than ${CUT_AFTER_BYTES}`);
      upstream.mode = 'pass';
      const [a, b] = await Promise.all([first.done, second.done]);
      assert.equal(a.status, 200);
      assert.ok(a.complete && a.body.equals(layer), 'the first client got the layer whole');
      assert.equal(b.status, 200);
      assert.ok(b.complete && b.body.equals(layer), 'the second client got the layer whole');
    } finally {
      upstream.mode = 'pass';
    }
    assert.equal(upstream.count('GET', `/blobs/${sha256(layer)}`), 1, JSON.stringify(upstream.log));
    const spool = join(berth.dataDir, 'proxy-spool');
    assert.deepEqual(existsSync(spool) ? readdirSync(spool) : [], [], 'no spool file is left');
  });

  it('the client that started a layer download going away does not stop it: a client that joined gets the layer whole, and it is stored', { timeout: 60_000 }, async () => {
    const layer = await cachedManifestOfNewLayer('team/gone', 4 * 1024 * 1024);
    upstream.mode = 'hold';
    let joined: Awaited<ReturnType<typeof openBlob>['done']>;
    try {
      // A docker pull interrupted with Ctrl-C while a second node pulls the same layer.
      const first = openBlob(berth, 'hub/team/gone', sha256(layer));
      await waitFor(async () => first.received() > 0, 'the first client to get bytes');
      const second = openBlob(berth, 'hub/team/gone', sha256(layer));
      await waitFor(async () => second.received() > 0, 'the second client to get bytes');
      first.cancel();
      upstream.mode = 'pass';
      joined = await second.done;
      assert.equal((await first.done).complete, false);
    } finally {
      upstream.mode = 'pass';
    }
    assert.equal(joined.status, 200);
    assert.ok(joined.complete && joined.body.equals(layer), 'the client that joined got the layer whole');
    upstream.clearLog();
    const again = await getBlob(berth, 'hub/team/gone', sha256(layer));
    assert.ok(again.status === 200 && again.body.equals(layer));
    assert.equal(upstream.count('GET', `/blobs/${sha256(layer)}`), 0, 'stored by the download the first client started');
  });

  it('a layer whose bytes do not match its digest reaches no client whole, is not stored, and the next pull fetches it again', { timeout: 60_000 }, async () => {
    const layer = await cachedManifestOfNewLayer('team/corrupt', 3 * 1024 * 1024);
    let first: Awaited<ReturnType<typeof openBlob>['done']>;
    let follower: Awaited<ReturnType<typeof openBlob>['done']>;
    try {
      upstream.mode = 'corrupt';
      const leader = openBlob(berth, 'hub/team/corrupt', sha256(layer));
      const other = openBlob(berth, 'hub/team/corrupt', sha256(layer));
      [first, follower] = await Promise.all([leader.done, other.done]);
    } finally {
      upstream.mode = 'pass';
    }
    for (const [who, got] of [['the client that started the download', first], ['a client that joined it', follower]] as const) {
      assert.ok(!(got.status === 200 && got.complete && got.body.length === layer.length), `${who} must not receive a whole blob of wrong bytes (status ${got.status}, ${got.body.length} bytes)`);
    }
    const again = await getBlob(berth, 'hub/team/corrupt', sha256(layer));
    assert.equal(again.status, 200, `${again.describe}\n${explain()}`);
    assert.ok(again.body.equals(layer));
    assert.equal(berth.running(), true);
  });

  it('garbage collection evicts cached content not pulled within its keep period, and nothing else', { timeout: 120_000 }, async () => {
    const image = buildImage({ layers: 2 });
    await upstream.push('team/evict', 'v1', image);
    await pullAll('brief/team/evict', 'v1', image);
    await pullAll('hub/team/evict', 'v1', image);
    const own = buildImage({ layers: 1 });
    for (const blob of [own.config, ...own.layers]) {
      const r = await registryRequest(berth, 'POST', `/v2/team/own/blobs/uploads/?digest=${sha256(blob)}`, { headers: { 'Content-Type': 'application/octet-stream' }, body: blob });
      assert.equal(r.status, 201, r.describe);
    }
    const put = await registryRequest(berth, 'PUT', '/v2/team/own/manifests/v1', { headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' }, body: own.manifest });
    assert.equal(put.status, 201, put.describe);
    await sleep(1500);
    const gc = await runCli(['gc'], { ...berth.settings(), BERTH_GC_GRACE: '0s', LOG_LEVEL: 'warn' });
    assert.equal(gc.code, 0, describeRun(gc));
    const listing = JSON.parse((await registryRequest(berth, 'GET', '/api/v1/repositories?n=1000')).body.toString()) as {
      repositories: { name: string; tagCount: number; cachedFrom: { prefix: string; upstream: string; lastPulledAt: string } | null }[];
    };
    const byName = new Map(listing.repositories.map((r) => [r.name, r]));
    assert.equal(byName.get('brief/team/evict')?.tagCount, 0, 'the brief copy was evicted');
    assert.equal(byName.get('hub/team/evict')?.tagCount, 1, 'the hub copy (keep 30d) stays');
    assert.equal(byName.get('hub/team/evict')?.cachedFrom?.upstream, upstream.url);
    assert.ok(Date.parse(byName.get('hub/team/evict')!.cachedFrom!.lastPulledAt) > Date.now() - 600_000);
    assert.equal(byName.get('team/own')?.cachedFrom, null, "the team's own repository is not a cache");
    // The tag history tells what the evicted tag pointed to, and that garbage collection removed it.
    type History = { current: string | null; events: { revision: number; action: string; digest: string | null; previousDigest: string | null; actor: string; reason: string | null }[] };
    const historyOf = async (name: string) => {
      const r = await registryRequest(berth, 'GET', `/api/v1/repositories/${name}/tags/v1/history`);
      assert.equal(r.status, 200, r.describe);
      return JSON.parse(r.body.toString()) as History;
    };
    const evicted = await historyOf('brief/team/evict');
    assert.equal(evicted.current, null);
    assert.deepEqual(
      evicted.events.map((e) => [e.revision, e.action, e.digest, e.previousDigest, e.actor]),
      [
        [2, 'delete', null, image.digest, 'gc:proxy-keep'],
        [1, 'push', image.digest, null, 'upstream:brief'],
      ],
    );
    assert.match(evicted.events[0]!.reason ?? '', /keep period/);
    assert.deepEqual((await historyOf('hub/team/evict')).events.map((e) => e.action), ['push'], 'the kept copy has no delete event');
    assert.deepEqual((await historyOf('team/own')).events.map((e) => e.action), ['push'], "the team's own tag has no delete event");
    upstream.clearLog();
    await pullAll('team/own', 'v1', own);
    await pullAll('hub/team/evict', 'v1', image);
    // (the hub copy's tag is past its 2 s TTL by now: a HEAD checks it, nothing is downloaded)
    assert.deepEqual(upstream.log.filter((l) => l.method !== 'HEAD'), [], 'the kept copy and the own repository are served without downloads');
    await pullAll('brief/team/evict', 'v1', image);
    assert.equal(upstream.count('GET', '/manifests/v1'), 1, 'the evicted copy is fetched again');
    assert.deepEqual((await historyOf('brief/team/evict')).events.map((e) => [e.revision, e.action, e.digest]), [
      [3, 'push', image.digest],
      [2, 'delete', null],
      [1, 'push', image.digest],
    ]);
  });

  it('20 clients pulling one new image at once cause one upstream GET per blob and manifest', { timeout: 120_000 }, async () => {
    const layers = [Buffer.alloc(3 * 1024 * 1024, 1), Buffer.alloc(2 * 1024 * 1024, 2), Buffer.alloc(512 * 1024, 3)].map((b, i) => {
      b.write(`layer ${i} ${Date.now()} ${Math.random()}`);
      return b;
    });
    const withLayers = imageOf(buildImage({ layers: 0 }).config, layers);
    await upstream.push('team/parallel', 'v1', withLayers);
    upstream.clearLog();
    await Promise.all(Array.from({ length: 20 }, () => pullAll('hub/team/parallel', 'v1', withLayers)));
    for (const blob of [withLayers.config, ...layers]) {
      assert.equal(upstream.count('GET', `/blobs/${sha256(blob)}`), 1, `GETs of ${sha256(blob)}: ${JSON.stringify(upstream.log)}`);
    }
    assert.equal(upstream.count('GET', '/manifests/v1'), 1, JSON.stringify(upstream.log));
    console.log(`[proxy-cache] 20 parallel pulls: upstream requests ${upstream.log.length} (${upstream.log.map((l) => `${l.method} ${l.path.split('/').pop()}`).join(', ')})`);
  });

  it('two replicas sharing PostgreSQL: 20 pulls of one new image spread over both cause one upstream GET per blob', { timeout: 120_000 }, async () => {
    const replica = await berth.replica();
    try {
      const layers = [Buffer.alloc(2 * 1024 * 1024, 4), Buffer.alloc(1024 * 1024, 5)].map((b, i) => {
        b.write(`replicas ${i} ${Date.now()} ${Math.random()}`);
        return b;
      });
      const image = imageOf(buildImage({ layers: 0 }).config, layers);
      await upstream.push('team/replicated', 'v1', image);
      upstream.clearLog();
      await Promise.all(Array.from({ length: 20 }, (_, i) => pullAll('hub/team/replicated', 'v1', image, i % 2 === 0 ? berth : replica)));
      for (const blob of [image.config, ...layers]) {
        assert.equal(upstream.count('GET', `/blobs/${sha256(blob)}`), 1, JSON.stringify(upstream.log));
      }
      assert.equal(upstream.count('GET', '/manifests/v1'), 1, JSON.stringify(upstream.log));
    } finally {
      await replica.destroy();
    }
  });
});
