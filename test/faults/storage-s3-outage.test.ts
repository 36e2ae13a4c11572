// S3 killed mid-push and restarted, and S3 connections reset mid-body, under a real Berth process
// on the S3 driver (s3rver behind a proxy that can cut responses): every answer while S3 is gone
// or cutting is 503 with Retry-After or a success, never a 500; the push retried afterwards pulls
// back intact, and so does the image pushed before.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { startRegistry, type RegistryInstance } from '../helpers/berth-process.js';
import { describe as show, pullImageProblem, pushImage, send, sha256, Tally, type Answer } from '../helpers/fault-http.js';
import { startCuttingProxy, type CuttingProxy } from '../helpers/cutting-proxy.js';
import { S3RVER_CREDENTIALS, startS3rver, type TestS3 } from '../helpers/s3rver.js';

const MiB = 1024 * 1024;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
/** What a client may see from a registry whose S3 comes and goes. */
const ACCEPTABLE = new Set([200, 201, 202, 204, 503]);

describe('storage fault: S3 killed and restarted mid-push', () => {
  let s3: TestS3;
  let port: number;
  let proxy: CuttingProxy;
  let reg: RegistryInstance;
  const tally = new Tally();
  let exits = 0;

  before(async () => {
    s3 = await startS3rver();
    port = Number(new URL(s3.endpoint).port);
    proxy = await startCuttingProxy(port);
    reg = await startRegistry({
      env: {
        BERTH_STORAGE: 's3',
        BERTH_S3_ENDPOINT: `http://127.0.0.1:${proxy.port}`,
        BERTH_S3_BUCKET: s3.bucket,
        BERTH_S3_FORCE_PATH_STYLE: 'true',
        BERTH_S3_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
      },
    });
  });

  after(async () => {
    if (reg) {
      if (!reg.running()) exits += 1;
      await reg.destroy();
    }
    await s3?.stop();
    await proxy?.close();
    console.log(tally.summary('storage-s3-outage', exits));
  });

  const restartS3 = async () => {
    s3 = await startS3rver({ port, dir: s3.dir, bucket: s3.bucket });
  };

  it('answers 503 (never 500) while S3 is gone, and the retried push pulls back intact after it returns', async () => {
    const base = reg.url;
    const imageA = [randomBytes(3 * MiB)];
    const a = await pushImage(base, 'faults/s3', 'a', imageA, tally);
    assert.equal(a.status, 201, show(a));

    // Image b: the config first, then a 40 MiB layer pushed as docker does (POST, PATCH, PUT).
    const layer = randomBytes(40 * MiB);
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(layer)] } }));
    const pushConfig = tally.note(await send(base, 'POST', `/v2/faults/s3/blobs/uploads/?digest=${encodeURIComponent(sha256(config))}`, { body: config }));
    assert.equal(pushConfig.status, 201, show(pushConfig));
    const start = tally.note(await send(base, 'POST', '/v2/faults/s3/blobs/uploads/'));
    assert.equal(start.status, 202, show(start));
    const location = String(start.headers.location);

    // S3 dies 12 MiB into the layer's PATCH.
    const seen: Answer[] = [];
    tally.faults += 1;
    const patch = tally.note(
      await send(base, 'PATCH', location, {
        body: layer,
        headers: { 'Content-Type': 'application/octet-stream' },
        midBody: { at: 12 * MiB, run: () => s3.kill() },
      }),
    );
    seen.push(patch);
    assert.equal(patch.status, 503, `the PATCH cut by the S3 outage: ${show(patch)}`);
    assert.ok(Number(patch.headers['retry-after']) > 0, 'Retry-After');

    // While S3 is away: whatever touches blobs is 503, metadata still answers.
    const during: [string, string, Buffer?][] = [
      ['GET', `/v2/faults/s3/blobs/${sha256(imageA[0]!)}`],
      ['HEAD', `/v2/faults/s3/blobs/${sha256(imageA[0]!)}`],
      ['POST', '/v2/faults/s3/blobs/uploads/'],
      ['POST', `/v2/faults/s3/blobs/uploads/?digest=${encodeURIComponent(sha256(Buffer.from('x')))}`, Buffer.from('x')],
      ['PATCH', location, randomBytes(MiB)],
      ['GET', location],
      ['GET', '/v2/faults/s3/tags/list'],
      ['GET', '/v2/faults/s3/manifests/a'],
      ['GET', '/readyz'],
    ];
    for (const [method, path, body] of during) {
      tally.faults += 1;
      const answer = tally.note(await send(base, method, path, { body, headers: { Accept: OCI_MANIFEST } }));
      seen.push(answer);
      if (path === '/readyz') assert.equal(answer.status, 503, `readyz: ${show(answer)}`);
      else assert.ok(ACCEPTABLE.has(answer.status), `${method} ${path} while S3 is down: ${show(answer)}`);
      if (answer.status === 503 && path !== '/readyz') assert.ok(Number(answer.headers['retry-after']) > 0, `Retry-After on ${method} ${path}`);
    }
    assert.equal(seen.filter((s) => s.status === 503).length >= 4, true, `blob requests were 503: ${seen.map((s) => s.status).join(',')}`);

    await restartS3();
    for (let waited = 0; ; waited += 250) {
      const ready = tally.note(await send(base, 'GET', '/readyz'));
      if (ready.status === 200) break;
      assert.ok(waited < 60_000, `readyz after S3 came back: ${show(ready)}`);
      await sleep(250);
    }

    // The client resumes where the registry says the upload is, and finishes the push.
    const status = tally.note(await send(base, 'GET', location));
    assert.equal(status.status, 204, show(status));
    // `Range: 0-0` is an empty upload; otherwise 0-<last byte held>.
    const resumed = status.headers.range === '0-0' ? 0 : Number(String(status.headers.range).split('-')[1]) + 1;
    const rest = tally.note(await send(base, 'PATCH', location, { body: layer.subarray(resumed), headers: { 'Content-Range': `${resumed}-${layer.length - 1}` } }));
    assert.equal(rest.status, 202, show(rest));
    const sep = String(rest.headers.location).includes('?') ? '&' : '?';
    const put = tally.note(await send(base, 'PUT', `${rest.headers.location}${sep}digest=${encodeURIComponent(sha256(layer))}`));
    assert.equal(put.status, 201, show(put));
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(layer), size: layer.length }],
      }),
    );
    const m = tally.note(await send(base, 'PUT', '/v2/faults/s3/manifests/b', { body: manifest, headers: { 'Content-Type': OCI_MANIFEST } }));
    assert.equal(m.status, 201, show(m));

    assert.equal(await pullImageProblem(base, 'faults/s3', 'b', [layer], tally), undefined, 'image b pulls back intact');
    assert.equal(await pullImageProblem(base, 'faults/s3', 'a', imageA, tally), undefined, 'image a pulls back intact');
    assert.equal(tally.count500, 0, `no 500 answers: ${tally.statuses.join(',')}`);
    assert.ok(reg.running(), 'Berth still runs');
  });

  it('answers 503 (never 500) when S3 connections are reset in the middle of a body Berth reads, and the retried chunk goes through', async () => {
    const base = reg.url;
    // Small chunks are staged as small S3 objects, read back and merged by the next chunk: a read
    // of a body through undici, which a reset mid-body fails with UND_ERR_SOCKET.
    const chunks = [randomBytes(200 * 1024), randomBytes(200 * 1024), randomBytes(200 * 1024)];
    const start = tally.note(await send(base, 'POST', '/v2/faults/s3/blobs/uploads/'));
    assert.equal(start.status, 202, show(start));
    let location = String(start.headers.location);
    let offset = 0;
    const patch = (bytes: Buffer) =>
      send(base, 'PATCH', location, { body: bytes, headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${offset}-${offset + bytes.length - 1}` } });
    const first = tally.note(await patch(chunks[0]!));
    assert.equal(first.status, 202, show(first));
    location = String(first.headers.location);
    offset += chunks[0]!.length;

    proxy.cutGetBodies = true;
    const cutsBefore = proxy.cuts;
    tally.faults += 1;
    const cut = tally.note(await patch(chunks[1]!));
    proxy.cutGetBodies = false;
    assert.ok(proxy.cuts > cutsBefore, 'the proxy cut a response body');
    assert.equal(cut.status, 503, `a chunk whose staged bytes could not be read back: ${show(cut)}`);
    assert.ok(Number(cut.headers['retry-after']) > 0, 'Retry-After');

    for (const bytes of chunks.slice(1)) {
      const again = tally.note(await patch(bytes));
      assert.equal(again.status, 202, show(again));
      location = String(again.headers.location);
      offset += bytes.length;
    }
    const blob = Buffer.concat(chunks);
    const sep = location.includes('?') ? '&' : '?';
    const put = tally.note(await send(base, 'PUT', `${location}${sep}digest=${encodeURIComponent(sha256(blob))}`));
    assert.equal(put.status, 201, show(put));
    const got = tally.note(await send(base, 'GET', `/v2/faults/s3/blobs/${sha256(blob)}`));
    assert.equal(got.status, 200, show(got));
    assert.equal(sha256(got.body), sha256(blob), 'the blob pulls back intact');
    assert.equal(tally.count500, 0, `no 500 answers: ${tally.statuses.join(',')}`);
    assert.ok(reg.running());
  });
});
