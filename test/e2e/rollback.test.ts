// End-to-end: the deploy-rollback story with the real docker CLI and the real `berth` CLI against a
// Berth process. Push image A as team/app:prod, push image B as prod, `berth rollback team/app:prod`,
// and `docker pull team/app:prod` yields A (a file's bytes say so); the history shows three events;
// a second rollback brings B back.
//
// Run: node --import tsx --test test/e2e/rollback.test.ts (needs dockerd + docker and DATABASE_URL).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../helpers/berth-cli.js';
import { e2eTarget, startRegistry, type RegistryInstance } from '../helpers/berth-process.js';
import { startDockerd, type Dockerd } from '../helpers/dockerd.js';
import { buildDockerImage, randomFiles, randomId, readFilesFromImage, removeLocalImages, type BuiltImage } from '../helpers/images.js';
import { assertTools, describeRun, suiteSkip } from '../helpers/system-tools.js';

const TOOLS = ['dockerd', 'docker'];
// Distribution has no tag history: this story is Berth's own.
const skip = e2eTarget() === 'distribution' ? 'tag rollback is a Berth feature (BERTH_E2E_TARGET=distribution)' : suiteSkip(TOOLS);

function berthCli(registry: string, args: string[]) {
  return runCli(args, { BERTH_REGISTRY: registry });
}

describe('docker + berth rollback: undoing a bad deploy', { skip }, () => {
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

  async function pushAsProd(image: BuiltImage): Promise<string> {
    const ref = `${reg.host}/team/app:prod`;
    await dockerd.dockerOk(['tag', image.tag, ref]);
    const r = await dockerd.docker(['push', ref], { timeoutMs: 300_000 });
    assert.equal(r.code, 0, describeRun(r));
    return /: digest: (sha256:[0-9a-f]{64})/.exec(r.stdout)![1]!;
  }

  /** Pulls prod afresh and returns the bytes of the image's marker file. */
  async function pullProdMarker(): Promise<Buffer> {
    const ref = `${reg.host}/team/app:prod`;
    await removeLocalImages(dockerd, [ref]);
    const r = await dockerd.docker(['pull', ref], { timeoutMs: 300_000 });
    assert.equal(r.code, 0, `${describeRun(r)}\n${reg.output().slice(-3000)}`);
    return (await readFilesFromImage(dockerd, ref, ['app/version.txt'])).get('app/version.txt')!;
  }

  it('rolls prod back to image A, history shows three events, a second rollback brings B back', { timeout: 300_000 }, async () => {
    const build = (version: string) =>
      buildDockerImage(dockerd, {
        tag: `local/rollback-${run}:${version}`,
        layers: [randomFiles('srv', 2, 20_000), [{ path: 'app/version.txt', content: Buffer.from(`image ${version} ${randomId()}\n`) }]],
      });
    const a = await build('a');
    const b = await build('b');
    const markerOf = (img: BuiltImage) => img.files.find((f) => f.path === 'app/version.txt')!.content;
    const digestA = await pushAsProd(a);
    const digestB = await pushAsProd(b);
    assert.notEqual(digestA, digestB);
    await removeLocalImages(dockerd, [a.tag, b.tag]);
    assert.deepEqual(await pullProdMarker(), markerOf(b));

    const rollback = await berthCli(reg.url, ['rollback', 'team/app:prod']);
    assert.equal(rollback.code, 0, rollback.stderr);
    assert.match(rollback.stdout, new RegExp(`team/app:prod: ${digestB} → ${digestA}`));
    assert.deepEqual(await pullProdMarker(), markerOf(a), 'docker pull after the rollback did not get image A');

    const history = await berthCli(reg.url, ['history', 'team/app:prod', '--json']);
    assert.equal(history.code, 0, history.stderr);
    const events = (JSON.parse(history.stdout) as { events: { revision: number; action: string; digest: string; previousDigest: string | null }[] }).events;
    assert.deepEqual(
      events.map((e) => [e.revision, e.action, e.digest, e.previousDigest]),
      [
        [3, 'rollback', digestA, digestB],
        [2, 'move', digestB, digestA],
        [1, 'push', digestA, null],
      ],
    );
    const table = await berthCli(reg.url, ['history', 'team/app:prod']);
    assert.equal(table.stdout.trim().split('\n').length, 6, table.stdout);

    const again = await berthCli(reg.url, ['rollback', 'team/app:prod']);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, new RegExp(`${digestA} → ${digestB}`));
    assert.deepEqual(await pullProdMarker(), markerOf(b), 'the second rollback did not bring image B back');
  });
});
