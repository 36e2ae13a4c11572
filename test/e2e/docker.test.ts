// End-to-end: the docker CLI (a private dockerd) pushing to and pulling from the registry.
//
// Run: node --import tsx --test test/e2e/docker.test.ts
// Needs: dockerd + docker, and skopeo for one test (scripts/install-test-deps.sh), DATABASE_URL (a PostgreSQL the test
// may CREATE DATABASE on). BERTH_E2E_TARGET=distribution runs it against CNCF Distribution.
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { getManifest, headBlob, headManifest, listTags, startRegistry, targetTools, type RegistryInstance } from '../helpers/berth-process.js';
import { startDockerd, type Dockerd } from '../helpers/dockerd.js';
import { buildDockerImage, randomFiles, randomId, readFilesFromImage, removeLocalImages, writeOciLayout, type BuiltImage } from '../helpers/images.js';
import { assertTools, describeRun, requireTool, run as runTool, suiteSkip, type RunResult } from '../helpers/system-tools.js';

const TOOLS = ['dockerd', 'docker', ...targetTools()];

describe('docker push / pull', { skip: suiteSkip(TOOLS) }, () => {
  let dockerd: Dockerd;
  let reg: RegistryInstance;
  const run = randomId(3); // keeps local tags of parallel/previous runs apart

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

  async function pull(ref: string): Promise<RunResult> {
    const r = await dockerd.docker(['pull', ref], { timeoutMs: 300_000 });
    assert.equal(r.code, 0, `docker pull failed\n${explain(r)}`);
    return r;
  }

  async function inspect(ref: string): Promise<{ Id: string; RepoDigests: string[]; RootFS: { Layers: string[] } }> {
    const r = await dockerd.dockerOk(['image', 'inspect', ref]);
    const arr = JSON.parse(r.stdout) as { Id: string; RepoDigests: string[]; RootFS: { Layers: string[] } }[];
    return arr[0]!;
  }

  async function assertFilesEqual(ref: string, image: BuiltImage): Promise<void> {
    const got = await readFilesFromImage(dockerd, ref, image.files.map((f) => f.path));
    for (const f of image.files) {
      const bytes = got.get(f.path);
      assert.ok(bytes, `${f.path} missing from pulled image ${ref}`);
      assert.ok(bytes.equals(f.content), `${f.path} differs after the round trip (${bytes.length} bytes vs ${f.content.length})`);
    }
  }

  async function assertGoneLocally(ref: string): Promise<void> {
    const r = await dockerd.docker(['image', 'inspect', ref]);
    assert.notEqual(r.code, 0, `${ref} still present locally after rmi + prune`);
  }

  it('pushes a multi-layer image and pulls back the same image id and identical file bytes', { timeout: 180_000 }, async () => {
    const image = await buildDockerImage(dockerd, {
      tag: `local/app-${run}:1.0`,
      layers: [randomFiles('opt/one', 3, 100_000), randomFiles('opt/two', 2, 300_000), randomFiles('etc/three', 4, 1000)],
    });
    const ref = `${reg.host}/team/app:1.0`;
    await dockerd.dockerOk(['tag', image.tag, ref]);
    const { digest } = await push(ref);

    const head = await headManifest(reg, 'team/app', '1.0');
    assert.equal(head.status, 200, head.describe);
    assert.equal(head.headers.get('docker-content-digest'), digest, 'registry reports another digest for the tag than docker push printed');
    assert.deepEqual(await listTags(reg, 'team/app'), ['1.0']);

    await removeLocalImages(dockerd, [ref, image.tag]);
    await assertGoneLocally(ref);

    const p = await pull(ref);
    assert.match(p.stdout, new RegExp(`Digest: ${digest}`), explain(p));
    const info = await inspect(ref);
    assert.equal(info.Id, image.id, 'pulled image has another image id (config digest) than the one pushed');
    assert.ok(info.RepoDigests.includes(`${reg.host}/team/app@${digest}`), `RepoDigests: ${info.RepoDigests.join(', ')}`);
    assert.equal(info.RootFS.Layers.length, 3);
    await assertFilesEqual(ref, image);
  });

  it('shares a base image between two repositories: the second push re-uses its layers, both pull', { timeout: 180_000 }, async (t) => {
    const base = await buildDockerImage(dockerd, {
      tag: `local/base-${run}:1`,
      layers: [randomFiles('base/a', 3, 200_000), randomFiles('base/b', 2, 50_000)],
    });
    const one = await buildDockerImage(dockerd, { tag: `local/one-${run}:1`, from: base, layers: [randomFiles('app/one', 2, 10_000)] });
    const two = await buildDockerImage(dockerd, { tag: `local/two-${run}:1`, from: base, layers: [randomFiles('app/two', 2, 10_000)] });
    const ref1 = `${reg.host}/shared/one:1`;
    const ref2 = `${reg.host}/shared/two:1`;
    await dockerd.dockerOk(['tag', one.tag, ref1]);
    await dockerd.dockerOk(['tag', two.tag, ref2]);

    const p1 = await push(ref1);
    assert.equal((p1.out.stdout.match(/: Pushed/g) ?? []).length, 3, `first push should upload 3 layers\n${explain(p1.out)}`);
    const p2 = await push(ref2);
    const pushed = (p2.out.stdout.match(/: Pushed/g) ?? []).length;
    const reused = (p2.out.stdout.match(/: (Mounted from shared\/one|Layer already exists)/g) ?? []).length;
    assert.equal(pushed, 1, `second push should upload only its own layer\n${explain(p2.out)}`);
    assert.equal(reused, 2, `second push should mount/skip the 2 base layers\n${explain(p2.out)}`);
    t.diagnostic(`second push: ${(p2.out.stdout.match(/: (Mounted from \S+|Layer already exists|Pushed)/g) ?? []).join('; ')}`);

    // The registry agrees: same base layer digests in both manifests, and both repos serve them.
    const m1 = JSON.parse((await getManifest(reg, 'shared/one', '1')).body.toString()) as { layers: { digest: string }[] };
    const m2 = JSON.parse((await getManifest(reg, 'shared/two', '1')).body.toString()) as { layers: { digest: string }[] };
    assert.deepEqual(m1.layers.slice(0, 2).map((l) => l.digest), m2.layers.slice(0, 2).map((l) => l.digest));
    assert.notEqual(m1.layers[2]!.digest, m2.layers[2]!.digest);
    for (const l of m2.layers) {
      const h = await headBlob(reg, 'shared/two', l.digest);
      assert.equal(h.status, 200, h.describe);
    }

    await removeLocalImages(dockerd, [ref1, ref2, one.tag, two.tag, base.tag]);
    await assertGoneLocally(ref1);
    await pull(ref1);
    await pull(ref2);
    assert.equal((await inspect(ref1)).Id, one.id);
    assert.equal((await inspect(ref2)).Id, two.id);
    await assertFilesEqual(ref1, one);
    await assertFilesEqual(ref2, two);
  });

  it('pushing the same tag again with new content moves the tag; the old image stays pullable by digest', { timeout: 180_000 }, async () => {
    const ref = `${reg.host}/team/moving:latest`;
    const v1 = await buildDockerImage(dockerd, { tag: `local/moving-${run}:v1`, layers: [randomFiles('srv', 2, 5000)] });
    await dockerd.dockerOk(['tag', v1.tag, ref]);
    const d1 = (await push(ref)).digest;
    const v2 = await buildDockerImage(dockerd, { tag: `local/moving-${run}:v2`, layers: [randomFiles('srv', 2, 5000)] });
    await dockerd.dockerOk(['tag', v2.tag, ref]);
    const d2 = (await push(ref)).digest;
    assert.notEqual(d1, d2);

    await removeLocalImages(dockerd, [ref, v1.tag, v2.tag]);
    const p = await pull(ref);
    assert.match(p.stdout, new RegExp(`Digest: ${d2}`), explain(p));
    assert.equal((await inspect(ref)).Id, v2.id, 'pull after re-push got the old image');
    await assertFilesEqual(ref, v2);

    const byDigest = `${reg.host}/team/moving@${d1}`;
    await pull(byDigest);
    assert.equal((await inspect(byDigest)).Id, v1.id);
    await assertFilesEqual(byDigest, v1);
  });

  it('pulling a tag or repository that does not exist fails with "not found" / "manifest unknown"', { timeout: 180_000 }, async () => {
    for (const ref of [`${reg.host}/team/app:no-such-tag`, `${reg.host}/nobody/nothing:1.0`]) {
      const r = await dockerd.docker(['pull', ref]);
      assert.notEqual(r.code, 0, `pull of ${ref} should fail\n${explain(r)}`);
      assert.match(r.stderr, /not found|manifest unknown/i, explain(r));
    }
    const digest = `sha256:${'0'.repeat(64)}`;
    const r = await dockerd.docker(['pull', `${reg.host}/team/app@${digest}`]);
    assert.notEqual(r.code, 0, explain(r));
    assert.match(r.stderr, /not found|manifest unknown/i, explain(r));
  });

  it('takes concurrent pushes of three images sharing their base layers', { timeout: 180_000 }, async () => {
    const base = await buildDockerImage(dockerd, { tag: `local/cbase-${run}:1`, layers: [randomFiles('cbase/a', 4, 500_000), randomFiles('cbase/b', 2, 80_000)] });
    const images = await Promise.all(
      ['x', 'y', 'z'].map((n) => buildDockerImage(dockerd, { tag: `local/c${n}-${run}:1`, from: base, layers: [randomFiles(`app/${n}`, 2, 30_000)] })),
    );
    const refs = images.map((_, i) => `${reg.host}/concurrent/app${i}:1`);
    for (const [i, img] of images.entries()) await dockerd.dockerOk(['tag', img.tag, refs[i]!]);
    const pushes = await Promise.all(refs.map((ref) => push(ref)));
    assert.equal(new Set(pushes.map((p) => p.digest)).size, 3);

    await removeLocalImages(dockerd, [...refs, ...images.map((i) => i.tag), base.tag]);
    for (const [i, ref] of refs.entries()) {
      await pull(ref);
      assert.equal((await inspect(ref)).Id, images[i]!.id);
      await assertFilesEqual(ref, images[i]!);
    }
  });

  it('pulls the right platform of a multi-platform index pushed by skopeo', { timeout: 180_000 }, async (t) => {
    if (!requireTool(t, 'skopeo')) return;
    const dir = await mkdtemp(join(dockerd.workDir, 'oci-'));
    const layout = await writeOciLayout(dir, { tag: 'v1' });
    const copy = await runTool('skopeo', ['copy', '--all', '--dest-tls-verify=false', `oci:${dir}:v1`, `docker://${reg.host}/multi/docker:v1`]);
    assert.equal(copy.code, 0, explain(copy));
    const ref = `${reg.host}/multi/docker:v1`;
    for (const img of layout.images) {
      const arch = img.platform.architecture;
      const p = await dockerd.docker(['pull', '--platform', `linux/${arch}`, ref], { timeoutMs: 120_000 });
      assert.equal(p.code, 0, explain(p));
      assert.match(p.stdout, new RegExp(`Digest: ${layout.root.digest}`), explain(p));
      const info = JSON.parse((await dockerd.dockerOk(['image', 'inspect', ref])).stdout) as { Id: string; Architecture: string }[];
      assert.equal(info[0]!.Architecture, arch);
      assert.equal(info[0]!.Id, img.config.digest);
      const files = img.layerFiles.flat();
      const got = await readFilesFromImage(dockerd, ref, files.map((f) => f.path));
      for (const f of files) assert.ok(got.get(f.path)?.equals(f.content), `${arch}: ${f.path} differs`);
      await removeLocalImages(dockerd, [ref]);
    }
  });
});
