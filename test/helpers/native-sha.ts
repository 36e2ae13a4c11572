// The native SHA module (src/native) in tests: never skipped silently, never skipped in CI.
import type { TestContext } from 'node:test';
import { nativeSha, nativeShaUnavailable, type NativeSha } from '../../src/hashing/native-sha.js';
import { failInCiOrSkip } from './system-tools.js';

/** The module; missing, the test fails in CI (CI=true) and skips loudly elsewhere (returns undefined). */
export function requireNativeSha(t: TestContext): NativeSha | undefined {
  const sha = nativeSha();
  if (sha) return sha;
  failInCiOrSkip(t, `native SHA module not loaded: ${nativeShaUnavailable()}`, 'NATIVE SHA TEST');
  return undefined;
}
