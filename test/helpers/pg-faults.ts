// The shared frame of the PostgreSQL fault tests (test/faults/pg-*.test.ts): inject a fault while
// pushes run, wait until the registry serves again, then check what a user would notice: the
// processes are alive, no answer was a 500, every acknowledged push pulls back whole and no tag
// shows anything partial. The figures are printed as `faults: …` lines.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startRegistry, type RegistryInstance, type StartOptions } from './berth-process.js';
import { startFaultPostgres, type FaultPostgres } from './fault-postgres.js';
import { lostPushes, msUntilServing, partialTags, PushLoad, type LoadReport } from './push-load.js';

export interface FaultTotals {
  faults: number;
  exits: number;
  lost: number;
  errors500: number;
  acked: number;
  servedAgainMs: number[];
}

/** A fault file's frame, filled in by its `before` hook. */
export interface FaultSetup {
  pg: FaultPostgres;
  /** The registries under test: the first started on `pg`, then `replicas` more beside it. */
  registries: RegistryInstance[];
  totals: FaultTotals;
}

/**
 * Registers the hooks every PostgreSQL fault file needs (call it inside `describe`): a PostgreSQL
 * of the file's own, a Berth on it (and `replicas` more), and at the end the printed totals and
 * everything stopped.
 */
export function useFaultRegistries(options: StartOptions = {}, replicas = 0): FaultSetup {
  const setup = { registries: [] as RegistryInstance[], totals: newTotals() } as FaultSetup;
  before(async () => {
    setup.pg = await startFaultPostgres();
    // startRegistry makes the registry's database on the server DATABASE_URL names: this one.
    process.env.DATABASE_URL = setup.pg.adminUrl;
    const first = await startRegistry({ timeoutMs: 60_000, ...options });
    setup.registries.push(first);
    for (let i = 0; i < replicas; i++) setup.registries.push(await first.replica());
  });
  after(async () => {
    printTotals(setup.totals);
    for (const r of [...setup.registries].reverse()) await r.destroy();
    await setup.pg?.destroy();
  });
  return setup;
}

export function newTotals(): FaultTotals {
  return { faults: 0, exits: 0, lost: 0, errors500: 0, acked: 0, servedAgainMs: [] };
}

export function printTotals(totals: FaultTotals): void {
  console.log(
    `faults: total: ${totals.faults} faults injected, ${totals.exits} process exits, ${totals.lost} acknowledged pushes lost, ` +
      `${totals.errors500} responses 500, ${totals.acked} pushes acknowledged, serving again after ${totals.servedAgainMs.join('/')} ms`,
  );
}

/**
 * Starts `pushers` pushers over the registries, lets them get going, runs `inject` (which returns
 * once PostgreSQL accepts connections again), measures how long until every registry serves the
 * repository again, lets the pushes run on a little, and checks the outcome.
 */
export async function faultUnderLoad(
  name: string,
  registries: RegistryInstance[],
  repo: string,
  totals: FaultTotals,
  inject: () => Promise<void>,
  pushers = 3,
): Promise<LoadReport> {
  const load = new PushLoad(registries.map((r) => r.url), repo);
  load.start(pushers);
  await sleep(1500);
  await inject();
  totals.faults += 1;
  const servedAgain = Math.max(
    ...(await Promise.all(
      registries.map((r) =>
        msUntilServing(`${r.url}/v2/${repo}/tags/list`).catch((err: Error) => {
          totals.exits += r.running() ? 0 : 1;
          throw r.running() ? err : new Error(`${name}: the registry exited:\n${r.output().slice(-4000)}`);
        }),
      ),
    )),
  );
  totals.servedAgainMs.push(servedAgain);
  await sleep(1500);
  const report = await load.stop();
  await checkAfterFault(name, registries, repo, report, totals, servedAgain);
  return report;
}

export async function checkAfterFault(
  name: string,
  registries: RegistryInstance[],
  repo: string,
  report: LoadReport,
  totals: FaultTotals,
  servedAgainMs: number,
): Promise<void> {
  const exited = registries.filter((r) => !r.running());
  totals.exits += exited.length;
  const errors500 = [...report.statuses].filter(([s]) => s >= 500 && s !== 503).reduce((n, [, c]) => n + c, 0);
  totals.errors500 += errors500;
  totals.acked += report.acked.length;
  const lost: string[] = [];
  const partial: string[] = [];
  if (exited.length === 0) {
    for (const r of registries) {
      lost.push(...(await lostPushes(r.url, report.acked)));
      partial.push(...(await partialTags(r.url, repo)));
    }
  }
  totals.lost += lost.length;
  console.log(
    `faults: ${name}: ${report.acked.length} pushes acknowledged, statuses ${JSON.stringify(Object.fromEntries(report.statuses))}, ` +
      `${errors500} responses 5xx other than 503, ${report.networkErrors} requests unanswered, ${exited.length} process exits, ` +
      `${lost.length} acknowledged pushes lost, serving again after ${servedAgainMs} ms`,
  );
  for (const r of exited) assert.fail(`${name}: the registry exited:\n${r.output().slice(-4000)}`);
  for (const r of registries) assert.doesNotMatch(r.output(), /Unhandled 'error' event|uncaughtException/, `${name}: ${r.url}`);
  const logged500 = registries.flatMap((r) => r.output().split('\n').filter((l) => /"status":5(?!03)\d\d/.test(l)));
  assert.equal(errors500, 0, `${name}: 5xx answers other than 503: ${JSON.stringify(Object.fromEntries(report.statuses))}\n${logged500.join('\n').slice(0, 6000)}`);
  assert.equal(report.networkErrors, 0, `${name}: requests got no answer`);
  assert.deepEqual(report.unexpected, [], `${name}: pushes got answers a client cannot handle`);
  assert.ok(report.acked.length > 0, `${name}: no push was acknowledged at all`);
  assert.deepEqual(lost, [], `${name}: acknowledged pushes do not pull back`);
  assert.deepEqual(partial, [], `${name}: tags show partial content`);
}
