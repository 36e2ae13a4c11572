// Behind a reverse proxy: Location headers stay relative by default (right behind any proxy),
// follow BERTH_PUBLIC_URL, and follow X-Forwarded-Proto/-Host only when the proxy is trusted
// (BERTH_TRUST_PROXY=true); an untrusted client cannot steer them.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { buildImage, putManifest, sha256 } from '../helpers/oci.js';
import { startTestRegistry, type TestRegistry } from '../helpers/registry.js';

const FORWARDED = { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'registry.example.com' };

async function locations(reg: TestRegistry, headers: Record<string, string>) {
  const repo = 'proxy/app';
  const image = buildImage({ layers: 1 });
  // Monolithic POST ?digest= (end-4b): one request, so an absolute Location is never followed here.
  for (const blob of [image.config, ...image.layers]) {
    await reg.request.post(`/v2/${repo}/blobs/uploads/?digest=${sha256(blob)}`).set('Content-Type', 'application/octet-stream').send(blob).expect(201);
  }
  const upload = await reg.request.post(`/v2/${repo}/blobs/uploads/`).set(headers).expect(202);
  const manifest = await putManifest(reg.request, repo, 'v1', image.manifest).set(headers).expect(201);
  return { upload: upload.headers.location as string, manifest: manifest.headers.location as string, digest: image.digest };
}

describe('Location behind a reverse proxy', () => {
  const started: TestRegistry[] = [];
  const start = async (options: Parameters<typeof startTestRegistry>[0]) => {
    const reg = await startTestRegistry(options);
    started.push(reg);
    return reg;
  };
  after(async () => {
    for (const reg of started) await reg.close();
  });

  it('default: relative paths, whatever X-Forwarded-* says', async () => {
    const reg = await start({});
    const l = await locations(reg, FORWARDED);
    assert.match(l.upload, /^\/v2\/proxy\/app\/blobs\/uploads\/[0-9a-f-]{36}$/);
    assert.equal(l.manifest, `/v2/proxy/app/manifests/${l.digest}`);
  });

  it('BERTH_TRUST_PROXY=true: absolute URLs on the forwarded scheme and host', async () => {
    const reg = await start({ trustProxy: true });
    const l = await locations(reg, FORWARDED);
    assert.match(l.upload, /^https:\/\/registry\.example\.com\/v2\/proxy\/app\/blobs\/uploads\/[0-9a-f-]{36}$/);
    assert.equal(l.manifest, `https://registry.example.com/v2/proxy/app/manifests/${l.digest}`);
  });

  it('BERTH_TRUST_PROXY=true without forwarded headers: still relative', async () => {
    const reg = await start({ trustProxy: true });
    const l = await locations(reg, {});
    assert.match(l.upload, /^\/v2\//);
  });

  it('the first of several X-Forwarded-Proto/-Host values (the client-facing proxy) is used', async () => {
    const reg = await start({ trustProxy: true });
    const l = await locations(reg, { 'X-Forwarded-Proto': 'https, http', 'X-Forwarded-Host': 'registry.example.com, internal:5000' });
    assert.equal(l.manifest, `https://registry.example.com/v2/proxy/app/manifests/${l.digest}`);
  });

  it('BERTH_PUBLIC_URL wins over forwarded headers', async () => {
    const reg = await start({ trustProxy: true, publicUrl: 'https://cr.example.org' });
    const l = await locations(reg, { 'X-Forwarded-Proto': 'http', 'X-Forwarded-Host': 'evil.example.net' });
    assert.match(l.upload, /^https:\/\/cr\.example\.org\/v2\/proxy\/app\/blobs\/uploads\//);
    assert.equal(l.manifest, `https://cr.example.org/v2/proxy/app/manifests/${l.digest}`);
  });

  it('an upload continues through an absolute forwarded Location (the client follows it through the proxy)', async () => {
    const reg = await start({ trustProxy: true });
    const blob = Buffer.from('behind a proxy');
    const started = await reg.request.post('/v2/proxy/app/blobs/uploads/').set(FORWARDED).expect(202);
    const path = new URL(started.headers.location as string).pathname;
    const digest = sha256(blob);
    const put = await reg.request.put(`${path}?digest=${digest}`).set(FORWARDED).set('Content-Type', 'application/octet-stream').send(blob).expect(201);
    assert.equal(put.headers.location, `https://registry.example.com/v2/proxy/app/blobs/${digest}`);
  });
});

