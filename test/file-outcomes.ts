// After a test pass: the files that ran no test (their process ended before reporting one, which
// spec shows as a bare "✔ <file>" and node counts as passing), and with CI=true the files whose
// every test skipped (the rule in helpers/system-tools.ts: nothing skips in CI). Reads the lines
// reporters/outcomes.mjs wrote.
import { readFile } from 'node:fs/promises';
import path from 'node:path';

interface Counts {
  /** passed, failed or todo */
  ran: number;
  skipped: number;
  /** The runner stood in for the file: it reported no test. */
  empty: boolean;
}

async function countByFile(outcomesPath: string): Promise<Map<string, Counts>> {
  const text = await readFile(outcomesPath, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return '';
    throw err;
  });
  const counts = new Map<string, Counts>();
  for (const line of text.split('\n')) {
    if (!line) continue;
    const { file, outcome } = JSON.parse(line) as { file: string; outcome: string };
    const c = counts.get(file) ?? { ran: 0, skipped: 0, empty: false };
    if (outcome === 'empty') c.empty = true;
    else if (outcome === 'skip') c.skipped++;
    else c.ran++;
    counts.set(file, c);
  }
  return counts;
}

/**
 * One line per file that makes the pass fail; empty when every file ran tests. Tests a file takes
 * from a module it imports are reported under that module: such a file is never named as all-skipped.
 */
export async function outcomeProblems(files: readonly string[], outcomesPath: string, ci: boolean): Promise<string[]> {
  const counts = await countByFile(outcomesPath);
  const problems: string[] = [];
  for (const file of files) {
    const c = counts.get(path.resolve(file));
    if (c?.empty) problems.push(`${file}: no test ran (its process ended before reporting one)`);
    else if (ci && c && c.ran === 0 && c.skipped > 0) problems.push(`${file}: every test skipped (${c.skipped}; with CI=true nothing may skip)`);
  }
  return problems;
}
