// End-to-end: a registry restarted (SIGTERM, then started again on the same data dir and
// database) still serves everything pushed before, to the docker CLI.
//
// Run: node --import tsx --test test/e2e/restart.test.ts
// Needs: dockerd + docker (scripts/install-test-deps.sh), DATABASE_URL.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { getBlob, headBlob, headManifest, listTags, registryRequest, startRegistry, targetTools, type RegistryInstance } from '../helpers/berth-process.js';
import { startDockerd, type Dockerd } from '../helpers/dockerd.js';
import { buildDockerImage, randomFiles, randomId, readFilesFromImage, removeLocalImages, sha256, type BuiltImage } from '../helpers/images.js';
import { assertTools, describeRun, suiteSkip, type RunResult } from '../helpers/system-tools.js';

const TOOLS = ['dockerd', 'docker', ...targetTools()];

describe('restart loses nothing', { skip: suiteSkip(TOOLS) }, () => {
  let dockerd: Dockerd;
  let reg: RegistryInstance;
  const run = randomId(3);

  before(async () => {
    assertTools(TOOLS);
    [dockerd, reg] = await Promise.all([startDockerd(), startRegistry()]);
  });

  after(async () => {
    await Promise.all([dockerd?.stop(), reg?.destroy()]);
  });

  function explain(r: RunResult): string {
    return `${describeRun(r)}\n--- registry output (tail) ---\n${reg.output().slice(-4000)}`;
  }

  async function push(ref: string): Promise<{ digest: string; out: RunResult }> {
    const r = await dockerd.docker(['push', ref], { timeoutMs: 300_000 });
    assert.equal(r.code, 0, `docker push failed\n${explain(r)}`);
    const m = /: digest: (sha256:[0-9a-f]{64}) size: \d+/.exec(r.stdout);
    assert.ok(m, `no digest line in docker push output\n${explain(r)}`);
    return { digest: m[1]!, out: r };
  }

  async function pullAndCheck(ref: string, image: BuiltImage, digest: string): Promise<void> {
    const r = await dockerd.docker(['pull', ref], { timeoutMs: 300_000 });
    assert.equal(r.code, 0, `docker pull failed after restart\n${explain(r)}`);
    assert.match(r.stdout, new RegExp(`Digest: ${digest}`), explain(r));
    const id = (await dockerd.dockerOk(['image', 'inspect', '--format', '{{.Id}}', ref])).stdout.trim();
    assert.equal(id, image.id);
    const files = await readFilesFromImage(dockerd, ref, image.files.map((f) => f.path));
    for (const f of image.files) assert.ok(files.get(f.path)?.equals(f.content), `${f.path} differs after restart`);
  }

  it('serves every image, tag and blob pushed before a SIGTERM restart', { timeout: 240_000 }, async () => {
    const base = await buildDockerImage(dockerd, { tag: `local/rbase-${run}:1`, layers: [randomFiles('base', 3, 150_000)] });
    const a1 = await buildDockerImage(dockerd, { tag: `local/ra-${run}:1`, from: base, layers: [randomFiles('a', 2, 20_000)] });
    const a2 = await buildDockerImage(dockerd, { tag: `local/ra-${run}:2`, from: base, layers: [randomFiles('a', 2, 20_000)] });
    const b = await buildDockerImage(dockerd, { tag: `local/rb-${run}:1`, from: base, layers: [randomFiles('b', 2, 20_000)] });

    const refA = `${reg.host}/keep/a:stable`;
    const refB = `${reg.host}/keep/b:1.0`;
    await dockerd.dockerOk(['tag', a1.tag, refA]);
    const dA1 = (await push(refA)).digest;
    await dockerd.dockerOk(['tag', a2.tag, refA]); // the tag moves before the restart
    const dA2 = (await push(refA)).digest;
    await dockerd.dockerOk(['tag', b.tag, refB]);
    const dB = (await push(refB)).digest;

    const pidBefore = reg.pid;
    const exit = await reg.stop('SIGTERM');
    if (reg.target === 'berth') {
      assert.equal(exit.signal, null, `Berth died by ${exit.signal} instead of exiting on SIGTERM\n${reg.output().slice(-4000)}`);
      assert.equal(exit.code, 0, `Berth exit code after SIGTERM\n${reg.output().slice(-4000)}`);
      assert.ok(exit.ms < 10_000, `graceful shutdown took ${exit.ms} ms`);
    }
    const refused = await fetch(`${reg.url}/v2/`).then(() => false, () => true);
    assert.ok(refused, 'the registry still answers after it was stopped');

    await reg.restart();
    assert.notEqual(reg.pid, pidBefore);

    // over HTTP: tags, manifests, blobs
    assert.deepEqual(await listTags(reg, 'keep/a'), ['stable']);
    assert.deepEqual(await listTags(reg, 'keep/b'), ['1.0']);
    for (const [repo, ref, digest] of [['keep/a', 'stable', dA2], ['keep/a', dA1, dA1], ['keep/b', '1.0', dB]] as const) {
      const h = await headManifest(reg, repo, ref);
      assert.equal(h.status, 200, h.describe);
      assert.equal(h.headers.get('docker-content-digest'), digest);
    }

    // with the docker CLI: nothing local, everything pulled from the restarted registry
    await removeLocalImages(dockerd, [refA, refB, a1.tag, a2.tag, b.tag, base.tag]);
    await pullAndCheck(refA, a2, dA2);
    await pullAndCheck(refB, b, dB);
    await pullAndCheck(`${reg.host}/keep/a@${dA1}`, a1, dA1);

    // the blobs are known after the restart: a new image on the pulled one uploads only its own layer
    const c = await buildDockerImage(dockerd, { tag: `local/rc-${run}:1`, from: { ...b, id: refB }, layers: [randomFiles('c', 1, 1000)] });
    const refC = `${reg.host}/keep/b:2.0`;
    await dockerd.dockerOk(['tag', c.tag, refC]);
    const pc = await push(refC);
    assert.equal((pc.out.stdout.match(/: Pushed/g) ?? []).length, 1, `only the new layer should be uploaded\n${explain(pc.out)}`);
    const m = JSON.parse((await (await fetch(`${reg.url}/v2/keep/b/manifests/2.0`, {
      headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' },
    })).text())) as { layers: { digest: string }[] };
    for (const l of m.layers) assert.equal((await headBlob(reg, 'keep/b', l.digest)).status, 200);
  });

  it('keeps a chunked upload session across a restart: the client resumes where it was', { timeout: 120_000 }, async () => {
    const blob = randomBytes(3 * 1024 * 1024 + 123);
    const digest = sha256(blob);
    const repo = 'keep/uploads';
    const cut = 2 * 1024 * 1024;

    const post = await registryRequest(reg, 'POST', `/v2/${repo}/blobs/uploads/`);
    assert.equal(post.status, 202, post.describe);
    let location = new URL(post.headers.get('location') ?? '', reg.url);
    const path = () => location.pathname + location.search;

    const p1 = await registryRequest(reg, 'PATCH', path(), {
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `0-${cut - 1}` },
      body: blob.subarray(0, cut),
    });
    assert.equal(p1.status, 202, p1.describe);
    assert.equal(p1.headers.get('range'), `0-${cut - 1}`);
    location = new URL(p1.headers.get('location') ?? path(), reg.url);

    await reg.stop('SIGTERM');
    await reg.restart();

    const status = await registryRequest(reg, 'GET', path());
    assert.equal(status.status, 204, `upload session lost across restart: ${status.describe}`);
    assert.equal(status.headers.get('range'), `0-${cut - 1}`, 'upload offset after restart');
    location = new URL(status.headers.get('location') ?? path(), reg.url);

    const p2 = await registryRequest(reg, 'PATCH', path(), {
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${cut}-${blob.length - 1}` },
      body: blob.subarray(cut),
    });
    assert.equal(p2.status, 202, p2.describe);
    location = new URL(p2.headers.get('location') ?? path(), reg.url);
    location.searchParams.set('digest', digest);
    const put = await registryRequest(reg, 'PUT', path(), { headers: { 'Content-Length': '0' } });
    assert.equal(put.status, 201, put.describe);
    assert.equal(put.headers.get('docker-content-digest'), digest);

    const got = await getBlob(reg, repo, digest);
    assert.equal(got.status, 200, got.describe);
    assert.ok(got.body.equals(blob), 'blob bytes differ after a resumed upload');
  });
});
