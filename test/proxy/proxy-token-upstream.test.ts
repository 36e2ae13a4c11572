// The pull-through cache against an upstream with Docker token authentication: a second Berth
// with BERTH_AUTH=token. Berth's upstream client follows the Bearer challenge to the upstream's
// token endpoint with the configured account, and with wrong credentials content never cached
// fails naming the upstream (fs pass only: the S3 pass re-runs test/e2e/proxy-cache.test.ts).
//
// Run: npm test -- test/proxy/proxy-token-upstream.test.ts
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { getBlob, getManifest, startRegistry, type RegistryInstance } from '../helpers/berth-process.js';
import { buildImage, sha256 } from '../helpers/oci.js';

const ADMIN_PASSWORD = 'upstream-admin-pw-1';

describe('pull-through cache of a token-authenticated upstream (a second Berth)', () => {
  let upstream: RegistryInstance;
  let cache: RegistryInstance;
  let wrong: RegistryInstance;
  /** Webhook events the cache sent. */
  const events: { action: string; target: { repository: string; tag?: string; digest: string }; actor: { name: string } }[] = [];
  const receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      events.push(...(JSON.parse(Buffer.concat(chunks).toString()) as { events: typeof events }).events);
      res.end();
    });
  });

  before(async () => {
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const hook = JSON.stringify([{ url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook` }]);
    upstream = await startRegistry({ env: { BERTH_AUTH: 'token', BERTH_ADMIN_USER: 'admin', BERTH_ADMIN_PASSWORD: ADMIN_PASSWORD } });
    const entry = (password: string) => JSON.stringify([{ prefix: 'up', upstream: upstream.url, username: 'admin', password, tagTtl: '1m' }]);
    [cache, wrong] = await Promise.all([
      startRegistry({ env: { BERTH_PROXIES: entry(ADMIN_PASSWORD), BERTH_WEBHOOKS: hook, LOG_LEVEL: 'info' } }),
      startRegistry({ env: { BERTH_PROXIES: entry('not-the-password'), LOG_LEVEL: 'info' } }),
    ]);
  });

  after(async () => {
    await Promise.all([cache?.destroy(), wrong?.destroy()]);
    await upstream?.destroy();
    receiver.close();
  });

  async function pushToUpstream(repo: string, tag: string, image = buildImage({ layers: 2 })) {
    const basic = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;
    const t = await fetch(`${upstream.url}/token?service=berth&scope=repository:${repo}:pull,push`, { headers: { Authorization: basic } });
    assert.equal(t.status, 200);
    const auth = { Authorization: `Bearer ${((await t.json()) as { token: string }).token}` };
    for (const blob of [image.config, ...image.layers]) {
      const r = await fetch(`${upstream.url}/v2/${repo}/blobs/uploads/?digest=${sha256(blob)}`, {
        method: 'POST',
        headers: { ...auth, 'Content-Type': 'application/octet-stream' },
        body: new Uint8Array(blob),
      });
      assert.equal(r.status, 201, await r.text());
    }
    const m = await fetch(`${upstream.url}/v2/${repo}/manifests/${tag}`, {
      method: 'PUT',
      headers: { ...auth, 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
      body: new Uint8Array(image.manifest),
    });
    assert.equal(m.status, 201, await m.text());
    return image;
  }

  it('follows the Bearer challenge with its account and caches the image', async () => {
    const image = await pushToUpstream('team/app', 'v1');
    const m = await getManifest(cache, 'up/team/app', 'v1');
    assert.equal(m.status, 200, `${m.describe}\n${cache.output().slice(-3000)}`);
    assert.equal(sha256(m.body), image.digest);
    for (const blob of [image.config, ...image.layers]) {
      const b = await getBlob(cache, 'up/team/app', sha256(blob));
      assert.equal(b.status, 200, b.describe);
      assert.ok(b.body.equals(blob));
    }
    // A webhook tells of the newly cached image, its actor naming the cache.
    for (let waited = 0; !events.some((e) => e.action === 'push') && waited < 15_000; waited += 100) await sleep(100);
    const pushed = events.find((e) => e.action === 'push');
    assert.ok(pushed, `no push event: ${JSON.stringify(events)}`);
    assert.deepEqual([pushed.target.repository, pushed.target.tag, pushed.target.digest, pushed.actor.name], ['up/team/app', 'v1', image.digest, 'upstream:up']);
    // Nothing of the account leaks into the cache's log.
    assert.doesNotMatch(cache.output(), new RegExp(ADMIN_PASSWORD));
    assert.doesNotMatch(cache.output(), new RegExp(Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')));
  });

  it('with credentials the upstream refuses, never-cached content fails naming the upstream', async () => {
    await pushToUpstream('team/other', 'v1');
    const m = await getManifest(wrong, 'up/team/other', 'v1');
    assert.equal(m.status, 503, m.describe);
    const body = JSON.parse(m.body.toString()) as { errors: { code: string; message: string; detail: { upstream: string } }[] };
    assert.equal(body.errors[0]!.code, 'UNAVAILABLE');
    assert.equal(body.errors[0]!.detail.upstream, upstream.url);
    assert.match(body.errors[0]!.message, /token service .* answered 401/);
    assert.doesNotMatch(wrong.output(), /not-the-password/);
  });
});
