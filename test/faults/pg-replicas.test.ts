// Two Berth replicas on one PostgreSQL (of this test's own), pushes spread over both, while the
// database restarts and while its postmaster is killed: one failover must not take any replica
// down, and what either acknowledged pulls back from both.
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { faultUnderLoad, useFaultRegistries } from '../helpers/pg-faults.js';

const REPO = 'faults/replicated';

describe('two replicas on one PostgreSQL that restarts', () => {
  const f = useFaultRegistries({}, 1);

  it('both survive pg_ctl restart -m fast with pushes through both', async () => {
    await faultUnderLoad('replicas, restart -m fast', f.registries, REPO, f.totals, () => f.pg.restart('fast'), 4);
  });

  it('both survive kill -9 of the postmaster with pushes through both', async () => {
    await faultUnderLoad('replicas, kill -9 postmaster', f.registries, REPO, f.totals, async () => {
      await f.pg.killPostmaster();
      await sleep(1000);
      await f.pg.start();
    }, 4);
  });
});
