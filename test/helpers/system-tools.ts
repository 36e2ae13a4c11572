// Finding the external programs the end-to-end tests drive (dockerd, docker, skopeo, …).
//
// Rule: a missing tool never skips silently. Outside CI the test is skipped with a loud reason
// (printed to stderr and shown as the TAP skip message); with CI=true the test fails, because a
// CI run that skipped the end-to-end tests would look green while testing nothing.
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { TestContext } from 'node:test';

// dockerd lives in /usr/sbin on Debian, which is not on every user's PATH.
const EXTRA_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

const cache = new Map<string, string | null>();

/** Absolute path of an executable, or null when it is not installed. */
export function findTool(name: string): string | null {
  if (cache.has(name)) return cache.get(name) ?? null;
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...EXTRA_DIRS];
  let found: string | null = null;
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      found = candidate;
      break;
    } catch {
      // not here
    }
  }
  cache.set(name, found);
  return found;
}

/** Like findTool, but throws a helpful error when the tool is missing. */
export function toolPath(name: string): string {
  const p = findTool(name);
  if (!p) throw new Error(missingMessage([name]));
  return p;
}

export function isCI(): boolean {
  return process.env.CI === 'true';
}

export function missingTools(names: readonly string[]): string[] {
  return names.filter((n) => findTool(n) === null);
}

function missingMessage(missing: readonly string[]): string {
  return (
    `required tool(s) not installed: ${missing.join(', ')} — ` +
    `run \`bash scripts/install-test-deps.sh\` (Debian, as root: apt-get install docker.io skopeo)`
  );
}

const warned = new Set<string>();
function warnLoudly(message: string, what = 'E2E TESTS'): void {
  if (warned.has(message)) return;
  warned.add(message);
  process.stderr.write(`\n!!! ${what} SKIPPED: ${message}\n\n`);
}

/**
 * For a test that cannot run here (`message` says why): with CI=true it throws (the test fails),
 * otherwise it skips loudly. Returns false: the caller then `return`s from the test.
 */
export function failInCiOrSkip(t: TestContext, message: string, what?: string): false {
  if (isCI()) throw new Error(`${message} (CI=true: what is missing fails the run instead of skipping)`);
  warnLoudly(message, what);
  t.skip(message);
  return false;
}

/**
 * For use inside a test: returns true when every tool is present.
 * Missing + CI=true → throws (the test fails). Missing otherwise → t.skip(reason), returns false;
 * the caller must then `return` from the test.
 */
export function requireTool(t: TestContext, ...names: string[]): boolean {
  const missing = missingTools(names);
  if (missing.length === 0) return true;
  return failInCiOrSkip(t, missingMessage(missing));
}

/**
 * For `describe(name, { skip: suiteSkip([...]) }, …)`: returns a loud skip reason when tools are
 * missing outside CI; returns false in CI (the suite then runs and its `before` hook calls
 * assertTools, which fails with the same message).
 */
export function suiteSkip(names: readonly string[]): string | false {
  const missing = missingTools(names);
  if (missing.length === 0 || isCI()) return false;
  const message = missingMessage(missing);
  warnLoudly(message);
  return message;
}

/** Throws when any tool is missing (use in `before` hooks; the suite then fails). */
export function assertTools(names: readonly string[]): void {
  const missing = missingTools(names);
  if (missing.length > 0) throw new Error(missingMessage(missing));
}

// ---------------------------------------------------------------------------------------------
// Running a tool and collecting what it printed.

export interface RunResult {
  /** exit code, or null when killed by a signal */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout as raw bytes (for `skopeo inspect --raw`, `docker save`, …) */
  stdoutBytes: Buffer;
  /** the command line, for messages */
  command: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** ms; the child gets SIGKILL after it (default 5 min) */
  timeoutMs?: number;
  input?: string | Buffer;
  /** called with each chunk of stderr+stdout, e.g. to watch progress */
  onOutput?: (chunk: string) => void;
}

/** Runs a program to completion. Never throws for a non-zero exit: look at `code`. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const command = [cmd, ...args].map((a) => (/[\s'"]/.test(a) ? JSON.stringify(a) : a)).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => {
      out.push(b);
      opts.onOutput?.(b.toString('utf8'));
    });
    child.stderr.on('data', (b: Buffer) => {
      err.push(b);
      opts.onOutput?.(b.toString('utf8'));
    });
    const timer = setTimeout(() => {
      err.push(Buffer.from(`\n[test harness] ${command} timed out after ${opts.timeoutMs ?? 300_000} ms; killed\n`));
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 300_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdoutBytes = Buffer.concat(out);
      resolve({
        code,
        signal,
        stdout: stdoutBytes.toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        stdoutBytes,
        command,
      });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

/** Formats a result for an assertion message. */
export function describeRun(r: RunResult): string {
  const tail = (s: string) => (s.length > 4000 ? '…' + s.slice(-4000) : s);
  return `$ ${r.command}\nexit=${r.code}${r.signal ? ` signal=${r.signal}` : ''}\n--- stdout ---\n${tail(r.stdout)}\n--- stderr ---\n${tail(r.stderr)}`;
}

/** Runs a program and throws (with its output) unless it exits 0. */
export async function runOk(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`command failed:\n${describeRun(r)}`);
  return r;
}

/** Resolves true when `p` settles within `ms`, false otherwise; leaves no timer behind. */
export async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
