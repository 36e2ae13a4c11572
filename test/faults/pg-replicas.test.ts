// Two Berth replicas on one PostgreSQL (of this test's own), pushes spread over both, while the
// database restarts and while its postmaster is killed: one failover must not take any replica
// down, and what either acknowledged pulls back from both.
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startRegistry, type RegistryInstance } from '../helpers/berth-process.js';
import { startFaultPostgres, type FaultPostgres } from '../helpers/fault-postgres.js';
import { faultUnderLoad, newTotals, printTotals } from '../helpers/pg-faults.js';

const REPO = 'faults/replicated';

describe('two replicas on one PostgreSQL that restarts', () => {
  let pg: FaultPostgres;
  let first: RegistryInstance;
  let second: RegistryInstance;
  const totals = newTotals();

  before(async () => {
    pg = await startFaultPostgres();
    process.env.DATABASE_URL = pg.adminUrl;
    first = await startRegistry({ timeoutMs: 60_000 });
    second = await first.replica();
  });
  after(async () => {
    printTotals(totals);
    await second?.destroy();
    await first?.destroy();
    await pg?.destroy();
  });

  it('both survive pg_ctl restart -m fast with pushes through both', async () => {
    await faultUnderLoad('replicas, restart -m fast', [first, second], REPO, totals, () => pg.restart('fast'), 4);
  });

  it('both survive kill -9 of the postmaster with pushes through both', async () => {
    await faultUnderLoad('replicas, kill -9 postmaster', [first, second], REPO, totals, async () => {
      await pg.killPostmaster();
      await sleep(1000);
      await pg.start();
    }, 4);
  });
});
