// End-to-end: with the S3 driver and BERTH_S3_REDIRECT=true, blob GETs answer 307 to a presigned
// URL on the S3 server; docker and skopeo follow it and pull byte-identical images.
//
// Run: node --import tsx --test test/e2e/s3-redirect.test.ts (starts its own s3rver).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startRegistry, type RegistryInstance } from '../helpers/berth-process.js';
import { startDockerd, type Dockerd } from '../helpers/dockerd.js';
import { buildDockerImage, randomFiles, randomId, readFilesFromImage, readOciLayout, removeLocalImages, writeOciLayout } from '../helpers/images.js';
import { S3RVER_CREDENTIALS, startS3rver, type TestS3 } from '../helpers/s3rver.js';
import { assertTools, describeRun, run, suiteSkip } from '../helpers/system-tools.js';

const TOOLS = ['dockerd', 'docker', 'skopeo'];

describe('pulls in S3 redirect mode (BERTH_S3_REDIRECT=true)', { skip: suiteSkip(TOOLS) }, () => {
  let s3: TestS3 | undefined;
  let reg: RegistryInstance;
  let dockerd: Dockerd;
  let work: string;
  const id = randomId(3);

  before(async () => {
    assertTools(TOOLS);
    // In the S3 pass the helper brings its own s3rver and settings; otherwise this file does.
    const ownS3 = process.env.BERTH_TEST_STORAGE !== 's3';
    s3 = ownS3 ? await startS3rver() : undefined;
    const env: Record<string, string> = { BERTH_S3_REDIRECT: 'true', LOG_LEVEL: 'info' };
    if (s3) {
      Object.assign(env, {
        BERTH_STORAGE: 's3',
        BERTH_S3_ENDPOINT: s3.endpoint,
        BERTH_S3_BUCKET: s3.bucket,
        BERTH_S3_FORCE_PATH_STYLE: 'true',
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
      });
    }
    work = await mkdtemp(join(tmpdir(), 'berth-e2e-redirect-'));
    [reg, dockerd] = await Promise.all([startRegistry({ env }), startDockerd()]);
  });

  after(async () => {
    await Promise.all([reg?.destroy(), dockerd?.stop()]);
    await s3?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** Blob GETs the registry answered with a redirect, from its request log. */
  function redirects(): number {
    return reg
      .output()
      .split('\n')
      .filter((line) => line.includes('"method":"GET"') && line.includes('/blobs/sha256:') && line.includes('"status":307')).length;
  }

  /** The request log is written asynchronously: give its last lines a moment to arrive. */
  async function redirectedSince(before: number): Promise<boolean> {
    for (let waited = 0; waited < 5000; waited += 100) {
      if (redirects() > before) return true;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return false;
  }

  it('docker pulls an image whose layers it fetched from the S3 server, files identical', { timeout: 240_000 }, async () => {
    const image = await buildDockerImage(dockerd, {
      tag: `local/redirect-${id}:1.0`,
      layers: [randomFiles('opt/a', 2, 200_000), randomFiles('opt/b', 3, 5000)],
    });
    const ref = `${reg.host}/team/redirect:1.0`;
    await dockerd.dockerOk(['tag', image.tag, ref]);
    const pushed = await dockerd.docker(['push', ref], { timeoutMs: 180_000 });
    assert.equal(pushed.code, 0, describeRun(pushed));
    await removeLocalImages(dockerd, [ref, image.tag]);
    const before = redirects();
    const pulled = await dockerd.docker(['pull', ref], { timeoutMs: 180_000 });
    assert.equal(pulled.code, 0, `${describeRun(pulled)}\n${reg.output().slice(-3000)}`);
    assert.ok(await redirectedSince(before), 'the pull did not go through a 307 redirect');
    const files = await readFilesFromImage(dockerd, ref, image.files.map((f) => f.path));
    for (const f of image.files) assert.ok(files.get(f.path)?.equals(f.content), `${f.path} differs after the pull`);
  });

  it('skopeo copies an index in and back out through redirects, every blob identical', { timeout: 240_000 }, async () => {
    const layout = await writeOciLayout(join(work, 'src'), { tag: 'v1' });
    const dest = `docker://${reg.host}/team/redirect-index:v1`;
    const push = await run('skopeo', ['copy', '--all', '--dest-tls-verify=false', `oci:${layout.dir}:v1`, dest], { timeoutMs: 180_000 });
    assert.equal(push.code, 0, describeRun(push));
    const before = redirects();
    const out = join(work, 'out');
    const pull = await run('skopeo', ['copy', '--all', '--src-tls-verify=false', dest, `oci:${out}:v1`], { timeoutMs: 180_000 });
    assert.equal(pull.code, 0, `${describeRun(pull)}\n${reg.output().slice(-3000)}`);
    assert.ok(await redirectedSince(before), 'the copy did not go through a 307 redirect');
    const copied = await readOciLayout(out);
    for (const [digest, size] of layout.blobs) {
      assert.equal(copied.blobs.get(digest), size, `${digest} missing or of another size after the round trip`);
    }
  });
});
