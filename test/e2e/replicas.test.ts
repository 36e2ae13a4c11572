// End-to-end: two registry processes sharing one data dir and one database (replicas behind a
// load balancer, no sticky sessions). What one replica accepts, the other serves at once.
//
// Run: node --import tsx --test test/e2e/replicas.test.ts
// Needs: dockerd, docker, skopeo (scripts/install-test-deps.sh), DATABASE_URL.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { getBlob, headManifest, registryRequest, startRegistry, targetTools, type RegistryInstance } from '../helpers/berth-process.js';
import { startDockerd, type Dockerd } from '../helpers/dockerd.js';
import { buildDockerImage, randomFiles, randomId, readFilesFromImage, removeLocalImages, sha256, writeOciLayout } from '../helpers/images.js';
import { assertTools, describeRun, run as runTool, suiteSkip, type RunResult } from '../helpers/system-tools.js';

const TOOLS = ['dockerd', 'docker', 'skopeo', ...targetTools()];

describe('two replicas on one data dir and database', { skip: suiteSkip(TOOLS) }, () => {
  let dockerd: Dockerd;
  let a: RegistryInstance;
  let b: RegistryInstance;
  const run = randomId(3);

  before(async () => {
    assertTools(TOOLS);
    [dockerd, a] = await Promise.all([startDockerd(), startRegistry()]);
    b = await a.replica();
  });

  after(async () => {
    await b?.destroy();
    await Promise.all([dockerd?.stop(), a?.destroy()]);
  });

  function explain(r: RunResult): string {
    return `${describeRun(r)}\n--- replica A output (tail) ---\n${a.output().slice(-3000)}\n--- replica B output (tail) ---\n${b.output().slice(-3000)}`;
  }

  async function docker(args: string[]): Promise<RunResult> {
    const r = await dockerd.docker(args, { timeoutMs: 120_000 });
    assert.equal(r.code, 0, explain(r));
    return r;
  }

  it('docker push to one replica, docker pull from the other', { timeout: 180_000 }, async () => {
    const image = await buildDockerImage(dockerd, { tag: `local/rep-${run}:1`, layers: [randomFiles('r/a', 3, 100_000), randomFiles('r/b', 2, 1000)] });
    const refA = `${a.host}/rep/app:1`;
    const refB = `${b.host}/rep/app:1`;
    await docker(['tag', image.tag, refA]);
    const pushed = await docker(['push', refA]);
    const digest = /: digest: (sha256:[0-9a-f]{64})/.exec(pushed.stdout)?.[1];
    assert.ok(digest, explain(pushed));

    await removeLocalImages(dockerd, [refA, image.tag]);
    const pulled = await docker(['pull', refB]);
    assert.match(pulled.stdout, new RegExp(`Digest: ${digest}`), explain(pulled));
    assert.equal((await docker(['image', 'inspect', '--format', '{{.Id}}', refB])).stdout.trim(), image.id);
    const files = await readFilesFromImage(dockerd, refB, image.files.map((f) => f.path));
    for (const f of image.files) assert.ok(files.get(f.path)?.equals(f.content), `${f.path} differs`);
  });

  it('a chunked upload started on one replica is finished on the other', { timeout: 60_000 }, async () => {
    const blob = randomBytes(5 * 1024 * 1024 + 11);
    const digest = sha256(blob);
    const cut = 3 * 1024 * 1024;
    const repo = 'rep/uploads';
    const at = (u: URL) => u.pathname + u.search;

    const post = await registryRequest(a, 'POST', `/v2/${repo}/blobs/uploads/`);
    assert.equal(post.status, 202, post.describe);
    let loc = new URL(post.headers.get('location') ?? '', a.url);
    const p1 = await registryRequest(a, 'PATCH', at(loc), {
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `0-${cut - 1}` },
      body: blob.subarray(0, cut),
    });
    assert.equal(p1.status, 202, p1.describe);
    loc = new URL(p1.headers.get('location') ?? at(loc), a.url);

    const st = await registryRequest(b, 'GET', at(loc));
    assert.equal(st.status, 204, `replica B does not know the session: ${st.describe}`);
    assert.equal(st.headers.get('range'), `0-${cut - 1}`);
    const p2 = await registryRequest(b, 'PATCH', at(loc), {
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${cut}-${blob.length - 1}` },
      body: blob.subarray(cut),
    });
    assert.equal(p2.status, 202, p2.describe);
    loc = new URL(p2.headers.get('location') ?? at(loc), b.url);
    loc.searchParams.set('digest', digest);
    const put = await registryRequest(b, 'PUT', at(loc));
    assert.equal(put.status, 201, put.describe);

    const got = await getBlob(a, repo, digest);
    assert.equal(got.status, 200, got.describe);
    assert.ok(got.body.equals(blob), 'blob bytes differ');
  });

  it('a tag moved or deleted on one replica is seen moved or deleted on the other at once', { timeout: 120_000 }, async () => {
    const dir1 = await mkdtemp(join(dockerd.workDir, 'oci1-'));
    const dir2 = await mkdtemp(join(dockerd.workDir, 'oci2-'));
    const [l1, l2] = await Promise.all([writeOciLayout(dir1, { tag: 'v' }), writeOciLayout(dir2, { tag: 'v' })]);
    const skopeo = async (args: string[]) => {
      const r = await runTool('skopeo', args, { timeoutMs: 60_000 });
      assert.equal(r.code, 0, explain(r));
      return r;
    };
    const ref = (reg: RegistryInstance) => `docker://${reg.host}/rep/moving:live`;

    await skopeo(['copy', '--all', '--dest-tls-verify=false', `oci:${dir1}:v`, ref(a)]);
    // B reads it (and may cache what it read)
    let raw = await skopeo(['inspect', '--raw', '--tls-verify=false', ref(b)]);
    assert.equal(sha256(raw.stdoutBytes), l1.root.digest);
    // the tag moves through B; A must answer with the new image
    await skopeo(['copy', '--all', '--dest-tls-verify=false', `oci:${dir2}:v`, ref(b)]);
    raw = await skopeo(['inspect', '--raw', '--tls-verify=false', ref(a)]);
    assert.equal(sha256(raw.stdoutBytes), l2.root.digest, 'replica A serves the old image for a moved tag');
    const h = await headManifest(b, 'rep/moving', 'live');
    assert.equal(h.headers.get('docker-content-digest'), l2.root.digest, h.describe);

    // deleted through A; B must stop serving it
    await skopeo(['delete', '--tls-verify=false', ref(a)]);
    const gone = await runTool('skopeo', ['inspect', '--raw', '--tls-verify=false', ref(b)]);
    assert.notEqual(gone.code, 0, `replica B still serves a deleted manifest\n${explain(gone)}`);
    const byDigest = await headManifest(b, 'rep/moving', l2.root.digest);
    assert.equal(byDigest.status, 404, byDigest.describe);
  });
});
