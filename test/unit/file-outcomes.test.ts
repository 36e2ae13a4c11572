// The test runner's own guard (test/reporters/outcomes.mjs + test/file-outcomes.ts), on whatever
// Node runs this file: a file whose process ends before it reports a test is named, as is (with
// CI=true) a file whose every test skipped; files whose tests ran are not. The fixtures are written
// to a temp dir and run by a nested `node --test` there, with relative paths as test/run.ts passes them.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { outcomeProblems } from '../file-outcomes.js';

const REPORTER = fileURLToPath(new URL('../reporters/outcomes.mjs', import.meta.url));

const FIXTURES: Record<string, string> = {
  'exits-at-top-level.test.mjs': `import 'node:path';\nprocess.exit(0);\n`,
  'exits-in-before-hook.test.mjs': `import { before, describe, it } from 'node:test';\ndescribe('s', () => { before(() => process.exit(0)); it('never runs', () => {}); });\n`,
  'registers-nothing.test.mjs': `export const nothing = 1;\n`,
  'all-skipped.test.mjs': `import { describe, it } from 'node:test';\ndescribe('s', { skip: 'not here' }, () => { it('a', () => {}); });\n`,
  'passes-and-skips.test.mjs': `import { it } from 'node:test';\nit('passes', () => {});\nit.skip('skips', () => {});\n`,
  'fails.test.mjs': `import { it } from 'node:test';\nit('fails', () => { throw new Error('expected'); });\n`,
  'todo-only.test.mjs': `import { it } from 'node:test';\nit.todo('later');\n`,
  // Tests declared in a module the file imports (as the BlobStore contract is) carry that module's path.
  'takes-shared-tests.test.mjs': `import { shared } from './shared-tests.mjs';\nshared('here');\n`,
};
const MODULES: Record<string, string> = {
  'shared-tests.mjs': `import { describe, it } from 'node:test';\nexport function shared(where) { describe(where, () => { it('runs', () => {}); }); }\n`,
};

describe('the test runner names files that tested nothing', () => {
  let dir = '';
  let outcomesPath = '';
  const files = Object.keys(FIXTURES).sort();

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'berth-outcomes-'));
    for (const [name, text] of Object.entries({ ...FIXTURES, ...MODULES })) await writeFile(path.join(dir, name), text);
    outcomesPath = path.join(dir, 'outcomes.jsonl');
    // Without NODE_TEST_CONTEXT the nested runner reports to its own reporters, not to this one.
    const { NODE_TEST_CONTEXT: _context, ...env } = process.env;
    const args = ['--test', '--test-reporter=tap', '--test-reporter-destination=stdout', `--test-reporter=${REPORTER}`, `--test-reporter-destination=${outcomesPath}`, ...files];
    const child = spawn(process.execPath, args, { cwd: dir, env, stdio: 'ignore' });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.equal(code, 1, 'the nested run fails (fails.test.mjs), as a failing test makes it');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('names each file that ended before reporting a test, and only those', async () => {
    const problems = await outcomeProblems(files.map((f) => path.join(dir, f)), outcomesPath, false);
    assert.deepEqual(
      problems.map((p) => path.basename(p.slice(0, p.indexOf(':')))),
      ['exits-at-top-level.test.mjs', 'exits-in-before-hook.test.mjs', 'registers-nothing.test.mjs'],
      problems.join('\n'),
    );
    for (const p of problems) assert.match(p, /: no test ran/);
  });

  it('with CI=true also names a file whose every test skipped', async () => {
    const problems = await outcomeProblems(files.map((f) => path.join(dir, f)), outcomesPath, true);
    const skipped = problems.filter((p) => p.includes('all-skipped.test.mjs'));
    assert.equal(skipped.length, 1, problems.join('\n'));
    assert.match(skipped[0] ?? '', /: every test skipped \(1; with CI=true/);
    assert.equal(problems.length, 4, problems.join('\n'));
  });
});
