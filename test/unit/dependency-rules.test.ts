// The import rules of src/ (.dependency-cruiser.cjs): no cycles, no lower layer importing a higher
// one. A violation fails this test with the offending import and, for a cycle, its whole path.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { ICruiseResult, IViolation } from 'dependency-cruiser';

const CONFIG = path.resolve('.dependency-cruiser.cjs');
const CLI = path.resolve('node_modules/dependency-cruiser/bin/dependency-cruise.mjs');

/**
 * The CLI in a plain node process: under tsx (this test's loader) dependency-cruiser's swc visitor
 * does not load. Exit code 0 or the number of violations; the JSON report either way.
 */
async function check(cwd: string): Promise<ICruiseResult> {
  const run = promisify(execFile)(process.execPath, [CLI, '--config', CONFIG, '--output-type', 'json', 'src'], { cwd, maxBuffer: 64 * 1024 * 1024 });
  const stdout = await run.then(
    (r) => r.stdout,
    (err: { stdout?: string; stderr?: string; code?: unknown }) => {
      if (!err.stdout) throw new Error(`dependency-cruiser failed (exit ${String(err.code)}): ${err.stderr ?? ''}`);
      return err.stdout;
    },
  );
  return JSON.parse(stdout) as ICruiseResult;
}

function describeViolation(v: IViolation): string {
  const cycle = v.cycle?.map((step) => step.name).join(' → ');
  return `${v.rule.name}: ${v.from} → ${v.to}${cycle ? ` (cycle: ${v.from} → ${cycle})` : ''}`;
}

/** The web UI's browser app: its imports, by file, that are neither packages nor inside its folder. */
async function browserAppImportsOutside(dir: string): Promise<string[]> {
  const outside: string[] = [];
  for (const name of await readdir(dir)) {
    if (!/\.tsx?$/.test(name)) continue;
    const text = await readFile(path.join(dir, name), 'utf8');
    for (const [, spec] of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)) {
      if (spec === undefined || !spec.startsWith('.')) continue;
      if (path.relative(dir, path.resolve(dir, spec)).startsWith('..')) outside.push(`${name} → ${spec}`);
    }
  }
  return outside;
}

describe('import rules (dependency-cruiser)', () => {
  it("the web UI's browser app (src/ui/app, bundled apart) imports only packages and its own files", async () => {
    const dir = path.resolve('src/ui/app');
    const files = (await readdir(dir)).filter((n) => /\.tsx?$/.test(n));
    assert.ok(files.length > 3, `only ${files.length} files in ${dir}`);
    assert.deepEqual(await browserAppImportsOutside(dir), []);
    const scratch = await mkdtemp(path.join(tmpdir(), 'berth-ui-imports-'));
    try {
      await writeFile(path.join(scratch, 'page.tsx'), "import { h } from 'preact';\nimport { api } from './api.js';\nimport { pool } from '../../db/pool.js';\n");
      assert.deepEqual(await browserAppImportsOutside(scratch), ['page.tsx → ../../db/pool.js']);
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  });

  it('src/ has no import cycles and no lower layer importing a higher one', async () => {
    const result = await check(process.cwd());
    // A parser that read nothing would find nothing wrong: make sure the imports were seen.
    assert.ok(result.summary.totalCruised > 100, `only ${result.summary.totalCruised} modules cruised`);
    const app = result.modules.find((m) => m.source === 'src/app.ts');
    assert.ok(app?.dependencies.some((d) => d.resolved === 'src/auth/access.ts'), 'src/app.ts → src/auth/access.ts not seen');
    const violations = result.summary.violations.map(describeViolation);
    assert.deepEqual(violations, [], `import rules broken:\n  ${violations.join('\n  ')}`);
  });

  it('catches a cycle, a lower layer importing a higher one, a service importing the CLI client, one storage driver importing the other and a driver reached past the factory; with no exception', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'berth-import-rules-'));
    try {
      const files: Record<string, string> = {
        'src/db/rows.ts': "import type { Route } from '../http/route.js';\nexport type Row = { route: Route };\n",
        'src/http/route.ts': "import type { Row } from '../db/rows.js';\nexport type Route = { row?: Row };\n",
        'src/services/sizes.ts': "import { size } from '../client/format.js';\nexport const s = size;\n",
        'src/client/format.ts': 'export const size = 1;\n',
        'src/client/api-client.ts': "import { UsageError } from './commands.js';\nexport const e = UsageError;\n",
        'src/client/commands.ts': "import { e } from './api-client.js';\nexport class UsageError extends Error {}\nexport const f = e;\n",
        // Storage drivers: the factory may import both; nobody else, and neither the other.
        'src/storage/fs/fs-store.ts': "import { s3 } from '../s3/s3-store.js';\nexport const fs = s3;\n",
        'src/storage/s3/s3-store.ts': 'export const s3 = 1;\n',
        'src/storage/create-blob-store.ts': "import { fs } from './fs/fs-store.js';\nimport { s3 } from './s3/s3-store.js';\nexport const stores = [fs, s3];\n",
        'src/storage/instrumented-store.ts': "import { s3 } from './s3/s3-store.js';\nexport const t = s3;\n",
        'src/services/reader.ts': "import { fs } from '../storage/fs/fs-store.js';\nimport { stores } from '../storage/create-blob-store.js';\nexport const r = [fs, stores];\n",
      };
      for (const [file, text] of Object.entries(files)) {
        await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
        await writeFile(path.join(dir, file), text);
      }
      const found = (await check(dir)).summary.violations.map(describeViolation).sort();
      assert.deepEqual(found, [
        'client-outside-cli: src/services/sizes.ts → src/client/format.ts',
        'lower-imports-higher: src/db/rows.ts → src/http/route.ts',
        'no-cycles: src/client/api-client.ts → src/client/commands.ts (cycle: src/client/api-client.ts → src/client/commands.ts → src/client/api-client.ts)',
        'no-cycles: src/db/rows.ts → src/http/route.ts (cycle: src/db/rows.ts → src/http/route.ts → src/db/rows.ts)',
        'services-import-http-or-cli: src/services/sizes.ts → src/client/format.ts',
        'storage-driver-outside-factory: src/services/reader.ts → src/storage/fs/fs-store.ts',
        'storage-driver-outside-factory: src/storage/instrumented-store.ts → src/storage/s3/s3-store.ts',
        'storage-drivers-apart: src/storage/fs/fs-store.ts → src/storage/s3/s3-store.ts',
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
