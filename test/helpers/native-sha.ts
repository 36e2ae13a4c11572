// The native SHA module (src/native) in tests: never skipped silently, never skipped in CI.
import type { TestContext } from 'node:test';
import { nativeSha, nativeShaUnavailable, type NativeSha } from '../../src/services/native-sha.js';
import { isCI } from './system-tools.js';

/** The module; missing, the test fails in CI (CI=true) and skips loudly elsewhere (returns undefined). */
export function requireNativeSha(t: TestContext): NativeSha | undefined {
  const sha = nativeSha();
  if (sha) return sha;
  const message = `native SHA module not loaded: ${nativeShaUnavailable()}`;
  if (isCI()) throw new Error(`${message} (CI=true: it must be built)`);
  process.stderr.write(`\n!!! NATIVE SHA TEST SKIPPED: ${message}\n\n`);
  t.skip(message);
  return undefined;
}
