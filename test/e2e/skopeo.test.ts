// End-to-end: skopeo copying a multi-platform OCI image (written by the test as an OCI layout)
// into the registry and back out, inspecting it, listing tags and deleting.
//
// Run: node --import tsx --test test/e2e/skopeo.test.ts
// Needs: skopeo (scripts/install-test-deps.sh), DATABASE_URL. BERTH_E2E_TARGET=distribution
// runs it against CNCF Distribution.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { headManifest, listTags, startRegistry, targetTools, type RegistryInstance } from '../helpers/berth-process.js';
import { MT, fileDigest, readOciLayout, sha256, writeOciLayout, type OciLayout } from '../helpers/images.js';
import { assertTools, describeRun, run, suiteSkip, type RunResult } from '../helpers/system-tools.js';

const TOOLS = ['skopeo', ...targetTools()];

describe('skopeo copy / inspect / list-tags / delete', { skip: suiteSkip(TOOLS) }, () => {
  let reg: RegistryInstance;
  let work: string;
  let layout: OciLayout;

  before(async () => {
    assertTools(TOOLS);
    work = await mkdtemp(join(tmpdir(), 'berth-e2e-skopeo-'));
    const shared = [{ path: 'shared/readme.txt', content: Buffer.from(`shared by both platforms ${Date.now()}\n`) }];
    [reg, layout] = await Promise.all([
      startRegistry(),
      writeOciLayout(join(work, 'src'), { tag: 'v1', sharedLayers: [shared] }),
    ]);
  });

  after(async () => {
    await reg?.destroy();
    if (work && process.env.BERTH_E2E_KEEP !== '1') await rm(work, { recursive: true, force: true });
  });

  function explain(r: RunResult): string {
    return `${describeRun(r)}\n--- registry output (tail) ---\n${reg.output().slice(-4000)}`;
  }

  async function skopeo(args: string[]): Promise<RunResult> {
    return await run('skopeo', args, { timeoutMs: 120_000 });
  }

  async function skopeoOk(args: string[]): Promise<RunResult> {
    const r = await skopeo(args);
    assert.equal(r.code, 0, `skopeo failed\n${explain(r)}`);
    return r;
  }

  const docker = (ref: string) => `docker://${reg.host}/${ref}`;

  it('copies a multi-platform index (--all) in, and inspect --raw returns the same bytes', { timeout: 120_000 }, async () => {
    await skopeoOk(['copy', '--all', '--dest-tls-verify=false', `oci:${layout.dir}:v1`, docker('multi/app:v1')]);

    const raw = await skopeoOk(['inspect', '--raw', '--tls-verify=false', docker('multi/app:v1')]);
    assert.equal(sha256(raw.stdoutBytes), layout.root.digest, 'index digest changed on the way through the registry');
    assert.ok(raw.stdoutBytes.equals(layout.rootBytes), 'index bytes changed on the way through the registry');

    const head = await headManifest(reg, 'multi/app', 'v1');
    assert.equal(head.status, 200, head.describe);
    assert.equal(head.headers.get('docker-content-digest'), layout.root.digest);
    assert.equal(head.headers.get('content-type')?.split(';')[0], MT.ociIndex);

    // every platform manifest is there by digest, byte for byte
    for (const img of layout.images) {
      const r = await skopeoOk(['inspect', '--raw', '--tls-verify=false', docker(`multi/app@${img.manifest.digest}`)]);
      assert.ok(r.stdoutBytes.equals(img.manifestBytes), `${img.platform.architecture} manifest bytes differ`);
    }
  });

  it('inspects each platform of the index (--override-arch)', { timeout: 120_000 }, async () => {
    for (const img of layout.images) {
      const r = await skopeoOk([
        'inspect', '--tls-verify=false', '--override-os', 'linux', '--override-arch', img.platform.architecture, docker('multi/app:v1'),
      ]);
      const info = JSON.parse(r.stdout) as { Architecture: string; Os: string; Layers: string[]; Digest: string };
      assert.equal(info.Architecture, img.platform.architecture);
      assert.equal(info.Os, 'linux');
      assert.deepEqual(info.Layers, img.layers.map((l) => l.digest));
    }
    // without --all only one platform travels: the chosen one, unchanged
    const arm = layout.images.find((i) => i.platform.architecture === 'arm64')!;
    await skopeoOk([
      'copy', '--src-tls-verify=false', '--dest-tls-verify=false', '--override-os', 'linux', '--override-arch', 'arm64',
      docker('multi/app:v1'), docker('single/arm:v1'),
    ]);
    const single = await skopeoOk(['inspect', '--raw', '--tls-verify=false', docker('single/arm:v1')]);
    assert.equal(sha256(single.stdoutBytes), arm.manifest.digest);
  });

  it('lists tags', { timeout: 120_000 }, async () => {
    await skopeoOk(['copy', '--all', '--src-tls-verify=false', '--dest-tls-verify=false', docker('multi/app:v1'), docker('multi/app:v2')]);
    await skopeoOk(['copy', '--all', '--src-tls-verify=false', '--dest-tls-verify=false', docker('multi/app:v1'), docker('multi/app:latest')]);
    const r = await skopeoOk(['list-tags', '--tls-verify=false', `docker://${reg.host}/multi/app`]);
    const tags = (JSON.parse(r.stdout) as { Tags: string[] }).Tags;
    assert.deepEqual([...tags].sort(), ['latest', 'v1', 'v2']);
    const v2 = await skopeoOk(['inspect', '--raw', '--tls-verify=false', docker('multi/app:v2')]);
    assert.equal(sha256(v2.stdoutBytes), layout.root.digest);

    const missing = await skopeo(['list-tags', '--tls-verify=false', `docker://${reg.host}/multi/nothing-here`]);
    assert.notEqual(missing.code, 0, explain(missing));
  });

  it('copies the index back out to a fresh OCI layout with identical blobs', { timeout: 120_000 }, async () => {
    const outDir = join(work, 'out');
    await skopeoOk(['copy', '--all', '--src-tls-verify=false', docker('multi/app:v1'), `oci:${outDir}:v1`]);
    const out = await readOciLayout(outDir);
    assert.equal(out.index.manifests.length, 1);
    assert.equal(out.index.manifests[0]!.digest, layout.root.digest);
    assert.deepEqual([...out.blobs.keys()].sort(), [...layout.blobs.keys()].sort(), 'different set of blobs after the round trip');
    for (const [digest, size] of layout.blobs) {
      assert.equal(out.blobs.get(digest), size, `${digest} size`);
      assert.equal(await fileDigest(out.blobPath(digest)), digest, `${digest} content`);
    }
  });

  it('deletes an image: inspect then fails with "manifest unknown"', { timeout: 120_000 }, async () => {
    await skopeoOk(['copy', '--all', '--dest-tls-verify=false', `oci:${layout.dir}:v1`, docker('multi/doomed:v1')]);
    await skopeoOk(['inspect', '--raw', '--tls-verify=false', docker('multi/doomed:v1')]);
    await skopeoOk(['delete', '--tls-verify=false', docker('multi/doomed:v1')]);

    const byTag = await skopeo(['inspect', '--raw', '--tls-verify=false', docker('multi/doomed:v1')]);
    assert.notEqual(byTag.code, 0, `inspect after delete should fail\n${explain(byTag)}`);
    assert.match(byTag.stderr, /manifest unknown|not found/i, explain(byTag));
    const byDigest = await skopeo(['inspect', '--raw', '--tls-verify=false', docker(`multi/doomed@${layout.root.digest}`)]);
    assert.notEqual(byDigest.code, 0, explain(byDigest));
    assert.match(byDigest.stderr, /manifest unknown|not found/i, explain(byDigest));
    const tags = await listTags(reg, 'multi/doomed');
    assert.ok(tags === null || !tags.includes('v1'), `v1 still listed: ${JSON.stringify(tags)}`);

    // the same content in another repository is untouched
    const other = await skopeoOk(['inspect', '--raw', '--tls-verify=false', docker('multi/app:v1')]);
    assert.equal(sha256(other.stdoutBytes), layout.root.digest);
  });
});
