// What an orchestrator and a dashboard ask: GET /healthz (the process answers), GET /readyz
// (PostgreSQL and the blob store answer, every migration is applied, not shutting down) and
// GET /metrics (Prometheus text). Outside /v2, no authentication: they reveal no content.
import Router from '@koa/router';
import type pg from 'pg';
import { DEFAULT_MIGRATIONS_DIR, loadMigrationFiles, pendingMigrations, type MigrationFile } from '../../db/migrate.js';
import type { Metrics } from '../../metrics/metrics.js';
import type { BlobStore } from '../../storage/blob-store.js';

/** A probe must answer before the orchestrator's own timeout (Kubernetes' default is 1 s… 5 s here). */
const CHECK_TIMEOUT_MS = 3000;

export interface OperationsDeps {
  pool: pg.Pool;
  store: BlobStore;
  metrics: Metrics;
  /** True once SIGTERM arrived: readiness fails so load balancers stop sending new requests. */
  draining?: () => boolean;
  migrationsDir?: string;
}

interface CheckResult {
  ok: boolean;
  ms: number;
  error?: string;
}

async function check(run: () => Promise<string | undefined>): Promise<CheckResult> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
    });
    const problem = await Promise.race([run(), timeout]);
    return problem === undefined ? { ok: true, ms: Date.now() - started } : { ok: false, ms: Date.now() - started, error: problem };
  } catch (err) {
    return { ok: false, ms: Date.now() - started, error: (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

export function operationsRouter(deps: OperationsDeps, options: { health: boolean; metrics: boolean }): Router {
  const router = new Router();
  // The files cannot change under a running process: read them once.
  let files: Promise<MigrationFile[]> | undefined;
  const migrationFiles = () => (files ??= loadMigrationFiles(deps.migrationsDir ?? DEFAULT_MIGRATIONS_DIR));

  if (options.health) {
    router.get('/healthz', (ctx) => {
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { status: 'ok' };
    });

    router.get('/readyz', async (ctx) => {
      const [database, storage, migrations] = await Promise.all([
        check(async () => {
          await deps.pool.query('SELECT 1');
          return undefined;
        }),
        check(async () => {
          await deps.store.ping();
          return undefined;
        }),
        check(async () => {
          const pending = await pendingMigrations(deps.pool, await migrationFiles());
          return pending.length === 0 ? undefined : `not applied: ${pending.join(', ')}`;
        }),
      ]);
      const draining = deps.draining?.() ?? false;
      const ready = database.ok && storage.ok && migrations.ok && !draining;
      ctx.status = ready ? 200 : 503;
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { status: ready ? 'ready' : draining ? 'shutting down' : 'not ready', checks: { database, storage, migrations } };
    });
  }

  if (options.metrics) {
    router.get('/metrics', async (ctx) => {
      const { contentType, body } = await deps.metrics.render();
      ctx.set('Content-Type', contentType);
      ctx.set('Cache-Control', 'no-store');
      ctx.body = body;
    });
  }
  return router;
}
