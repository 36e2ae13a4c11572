// `pg_ctl restart -m fast` under a pushing Berth that keeps its blobs in S3 (s3rver): the fault
// files run in the fs pass only, so this one fault shows in every `npm test` that the S3 driver's
// upload sessions (multipart uploads) come through a database restart too.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { berthCli } from '../helpers/berth-cli.js';
import { faultUnderLoad, useFaultRegistries } from '../helpers/pg-faults.js';

const REPO = 'faults/s3app';

describe('PostgreSQL restarted under a Berth on S3', () => {
  // startRegistry gives Berth an s3rver of its own when this says so (this test file's process only).
  process.env.BERTH_TEST_STORAGE = 's3';
  const f = useFaultRegistries();
  const reg = () => f.registries[0]!;

  it('survives pg_ctl restart -m fast while uploads stream to S3', async () => {
    assert.equal(reg().settings().BERTH_STORAGE, 's3');
    await faultUnderLoad('S3, restart -m fast', [reg()], REPO, f.totals, () => f.pg.restart('fast'));
  });

  it('leaves a store `berth fsck` finds clean', async () => {
    const result = await berthCli(reg(), ['fsck']);
    console.log(`faults: berth fsck on S3 after ${f.totals.faults} faults: exit ${result.code}`);
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
    assert.equal(f.totals.exits, 0);
    assert.equal(f.totals.lost, 0);
    assert.equal(f.totals.errors500, 0);
  });
});
