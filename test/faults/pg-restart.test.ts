// Berth and its PostgreSQL (an external one, of this test's own) restarted with `pg_ctl restart
// -m fast` and `-m immediate`, its postmaster killed with SIGKILL, all while pushes stream and the
// background collector runs, and stopped for 10 s while idle. The process stays up, no answer is a
// 500, acknowledged pushes pull back, nothing partial shows, `berth fsck` is clean afterwards.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { berthCli } from '../helpers/berth-cli.js';
import { checkAfterFault, faultUnderLoad, useFaultRegistries } from '../helpers/pg-faults.js';
import { msUntilServing } from '../helpers/push-load.js';

const REPO = 'faults/app';

describe('PostgreSQL restarts, crashes and outages under a running Berth', () => {
  const f = useFaultRegistries({ env: { BERTH_GC_INTERVAL: '1s' } });
  const reg = () => f.registries[0]!;

  it('survives pg_ctl restart -m fast while uploads stream and manifests are pushed', async () => {
    await faultUnderLoad('restart -m fast', [reg()], REPO, f.totals, () => f.pg.restart('fast'));
  });

  it('survives pg_ctl restart -m immediate, with a `berth gc` running next to it', async () => {
    let gc: ReturnType<typeof berthCli> | undefined;
    await faultUnderLoad('restart -m immediate', [reg()], REPO, f.totals, async () => {
      gc = berthCli(reg(), ['gc']);
      await sleep(2500);
      await f.pg.restart('immediate');
    });
    const result = await gc!;
    // The CLI's run may fail with the database gone under it; it must say so, not crash.
    console.log(`faults: berth gc during restart -m immediate: exit ${result.code}`);
    assert.doesNotMatch(result.stderr, /Unhandled 'error' event|uncaughtException/, result.stderr);
    if (result.code !== 0) assert.match(result.stderr, /terminat|connect|shut/i, result.stderr);
  });

  it('survives kill -9 of the postmaster, and PostgreSQL started again', async () => {
    await faultUnderLoad('kill -9 postmaster', [reg()], REPO, f.totals, async () => {
      await f.pg.killPostmaster();
      await sleep(1000);
      await f.pg.start();
    });
  });

  it('answers 503 UNAVAILABLE with Retry-After while PostgreSQL is down for 10 s, then serves again', async () => {
    const statuses = new Map<number, number>();
    const count = (s: number) => statuses.set(s, (statuses.get(s) ?? 0) + 1);
    await f.pg.stop('fast');
    f.totals.faults += 1;
    const downUntil = Date.now() + 10_000;
    while (Date.now() < downUntil) {
      for (const [method, path] of [
        ['GET', `/v2/${REPO}/tags/list`],
        ['GET', `/v2/${REPO}/manifests/latest`],
        ['POST', `/v2/${REPO}/blobs/uploads/`],
        ['GET', '/api/v1/repositories'],
      ] as const) {
        const res = await fetch(`${reg().url}${path}`, { method });
        const body = (await res.json()) as { errors: { code: string; message: string }[] };
        count(res.status);
        assert.equal(res.status, 503, `${method} ${path}: ${JSON.stringify(body)}`);
        assert.equal(res.headers.get('retry-after'), '5');
        assert.equal(body.errors[0]?.code, 'UNAVAILABLE');
        assert.match(body.errors[0]!.message, /database is unavailable/);
      }
      const ready = await fetch(`${reg().url}/readyz`);
      const checks = ((await ready.json()) as { checks: Record<string, { ok: boolean }> }).checks;
      assert.equal(ready.status, 503);
      assert.equal(checks.database?.ok, false);
      assert.equal(checks.storage?.ok, true);
      await sleep(500);
    }
    await f.pg.start();
    const servedAgain = await msUntilServing(`${reg().url}/v2/${REPO}/tags/list`);
    f.totals.servedAgainMs.push(servedAgain);
    assert.equal((await fetch(`${reg().url}/readyz`)).status, 200);
    await checkAfterFault('down 10 s while idle', [reg()], REPO, { statuses, networkErrors: 0, acked: [], unexpected: [] }, f.totals, servedAgain).catch((err: Error) => {
      // No push ran while idle: only "no push was acknowledged" may fail here.
      if (!/no push was acknowledged/.test(err.message)) throw err;
    });
  });

  it('leaves a store `berth fsck` finds clean', async () => {
    const result = await berthCli(reg(), ['fsck']);
    console.log(`faults: berth fsck after ${f.totals.faults} faults: exit ${result.code}`);
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
    assert.equal(f.totals.exits, 0);
    assert.equal(f.totals.lost, 0);
    assert.equal(f.totals.errors500, 0);
  });
});
