// The upstream front's emulated network link (test/helpers/upstream-registry.ts, used by the
// pull-through benchmark): with the link set, what a client receives through the front is still
// exactly what the upstream holds, for parallel pulls sharing the link and for a client that reads
// slowly (backpressure through the pacing). Its speed is the benchmark's to measure, not asserted here.
//
// Run: npm test -- test/proxy/upstream-link.test.ts
// Needs: docker-registry and htpasswd (scripts/install-test-deps.sh).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { imageOf, sha256, type TestImage } from '../helpers/oci.js';
import { assertTools, suiteSkip } from '../helpers/system-tools.js';
import { startUpstream, UPSTREAM_TOOLS, type Upstream } from '../helpers/upstream-registry.js';

const MiB = 1024 * 1024;

/** GETs `path` from the front, hashing the body as it arrives; `slow` pauses after every chunk. */
function fetchDigest(upstream: Upstream, path: string, slow = false): Promise<{ status: number; digest: string; size: number }> {
  return new Promise((resolve, reject) => {
    http
      // Distribution answers an OCI manifest only to a client that accepts it.
      .get(`${upstream.url}${path}`, { headers: { Authorization: upstream.authorization(), Accept: 'application/vnd.oci.image.manifest.v1+json' } }, (res) => {
        const hash = createHash('sha256');
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          hash.update(chunk);
          size += chunk.length;
          if (slow) {
            res.pause();
            void sleep(2).then(() => res.resume());
          }
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, digest: `sha256:${hash.digest('hex')}`, size }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

describe('upstream front with an emulated link', { skip: suiteSkip(UPSTREAM_TOOLS) }, () => {
  let upstream: Upstream;
  let image: TestImage;

  before(async () => {
    assertTools(UPSTREAM_TOOLS);
    upstream = await startUpstream({ link: { mibPerSecond: 64, rttMs: 5 } });
    // Sizes that are not multiples of the front's 64 KiB pieces, so every body ends in a short one.
    image = imageOf(Buffer.from('{"architecture":"amd64","os":"linux"}'), [randomBytes(3 * MiB + 17), randomBytes(2 * MiB + 65_537), randomBytes(1)]);
    await upstream.push('linked/app', 'v1', image);
  });

  after(async () => {
    await upstream?.destroy();
  });

  it('passes the manifest and every blob through unchanged while parallel pulls share the link', async () => {
    assert.deepEqual(upstream.link, { mibPerSecond: 64, rttMs: 5 });
    const manifest = await fetchDigest(upstream, '/v2/linked/app/manifests/v1');
    assert.equal(manifest.status, 200);
    assert.equal(manifest.digest, image.digest);
    const blobs = [image.config, ...image.layers];
    const pulled = await Promise.all(blobs.map((b, i) => fetchDigest(upstream, `/v2/linked/app/blobs/${sha256(b)}`, i === 1)));
    assert.deepEqual(
      pulled,
      blobs.map((b) => ({ status: 200, digest: sha256(b), size: b.length })),
    );
  });

  it('forwards as before once the link is unset, and paces again when it is set', async () => {
    const layer = image.layers[0]!;
    upstream.link = undefined;
    assert.deepEqual(await fetchDigest(upstream, `/v2/linked/app/blobs/${sha256(layer)}`), { status: 200, digest: sha256(layer), size: layer.length });
    upstream.link = { mibPerSecond: 16, rttMs: 0 };
    assert.deepEqual(await fetchDigest(upstream, `/v2/linked/app/blobs/${sha256(layer)}`, true), { status: 200, digest: sha256(layer), size: layer.length });
    assert.equal(upstream.count('GET', `/blobs/${sha256(layer)}`), 3);
  });
});
