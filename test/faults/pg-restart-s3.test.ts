// `pg_ctl restart -m fast` under a pushing Berth that keeps its blobs in S3 (s3rver): the fault
// files run in the fs pass only, so this one fault shows in every `npm test` that the S3 driver's
// upload sessions (multipart uploads) come through a database restart too.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { berthCli } from '../helpers/berth-cli.js';
import { startRegistry, type RegistryInstance } from '../helpers/berth-process.js';
import { startFaultPostgres, type FaultPostgres } from '../helpers/fault-postgres.js';
import { faultUnderLoad, newTotals, printTotals } from '../helpers/pg-faults.js';

const REPO = 'faults/s3app';

describe('PostgreSQL restarted under a Berth on S3', () => {
  let pg: FaultPostgres;
  let reg: RegistryInstance;
  const totals = newTotals();

  before(async () => {
    pg = await startFaultPostgres();
    process.env.DATABASE_URL = pg.adminUrl;
    // startRegistry gives Berth an s3rver of its own when this says so (this test file's process only).
    process.env.BERTH_TEST_STORAGE = 's3';
    reg = await startRegistry({ timeoutMs: 60_000 });
  });
  after(async () => {
    printTotals(totals);
    await reg?.destroy();
    await pg?.destroy();
  });

  it('survives pg_ctl restart -m fast while uploads stream to S3', async () => {
    assert.equal(reg.settings().BERTH_STORAGE, 's3');
    await faultUnderLoad('S3, restart -m fast', [reg], REPO, totals, () => pg.restart('fast'));
  });

  it('leaves a store `berth fsck` finds clean', async () => {
    const result = await berthCli(reg, ['fsck']);
    console.log(`faults: berth fsck on S3 after ${totals.faults} faults: exit ${result.code}`);
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
    assert.equal(totals.exits, 0);
    assert.equal(totals.lost, 0);
    assert.equal(totals.errors500, 0);
  });
});
