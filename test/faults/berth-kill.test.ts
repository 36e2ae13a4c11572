// kill -9 of Berth itself while several clients push, then a restart on the same data directory and
// database: the pushers see refused connections for a moment and carry on as a patient client does
// (resuming uploads from the Range the registry reports). What Berth acknowledged before the kill
// and after the restart pulls back whole, no tag shows partial content, no answer was a 500, and
// `berth fsck` finds the store clean.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { berthCli } from '../helpers/berth-cli.js';
import { startRegistry, type RegistryInstance } from '../helpers/berth-process.js';
import { lostPushes, msUntilServing, partialTags, PushLoad } from '../helpers/push-load.js';

const REPO = 'faults/killed';
const KILLS = 2;

describe('kill -9 of Berth during concurrent pushes, then restart', () => {
  let reg: RegistryInstance;

  before(async () => {
    reg = await startRegistry({ timeoutMs: 60_000 });
  });
  after(async () => {
    await reg?.destroy();
  });

  it('loses no acknowledged push, shows nothing partial and answers no 500', async () => {
    const load = new PushLoad([reg.url], REPO);
    load.start(4);
    const servedAgain: number[] = [];
    for (let i = 0; i < KILLS; i++) {
      await sleep(2000);
      const exit = await reg.kill();
      assert.equal(exit.signal, 'SIGKILL');
      await reg.restart();
      servedAgain.push(await msUntilServing(`${reg.url}/v2/${REPO}/tags/list`));
    }
    await sleep(2000);
    const report = await load.stop();
    const errors500 = [...report.statuses].filter(([s]) => s >= 500 && s !== 503).reduce((n, [, c]) => n + c, 0);
    const lost = await lostPushes(reg.url, report.acked);
    const partial = await partialTags(reg.url, REPO);
    const fsck = await berthCli(reg, ['fsck']);
    console.log(
      `faults: berth kill -9: ${KILLS} faults injected, ${report.acked.length} pushes acknowledged, statuses ${JSON.stringify(Object.fromEntries(report.statuses))}, ` +
        `${report.networkErrors} requests unanswered (the kills), ${errors500} responses 5xx other than 503, ${lost.length} acknowledged pushes lost, ` +
        `tags served ${servedAgain.join('/')} ms after each restart was ready, fsck exit ${fsck.code}`,
    );
    assert.equal(errors500, 0, `5xx answers other than 503: ${JSON.stringify(Object.fromEntries(report.statuses))}`);
    assert.deepEqual(report.unexpected, [], 'pushes got answers a client cannot handle');
    assert.ok(report.acked.length > 0, 'no push was acknowledged at all');
    assert.deepEqual(lost, [], 'acknowledged pushes do not pull back');
    assert.deepEqual(partial, [], 'tags show partial content');
    assert.equal(fsck.code, 0, `${fsck.stdout}\n${fsck.stderr}`);
    assert.ok(reg.running(), 'the restarted registry is running');
  });
});
