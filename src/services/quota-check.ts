// Quota enforcement (BERTH_QUOTAS) at manifest push. Blobs alone belong to no repository until a
// manifest references them, so the manifest PUT is where a repository's size grows: it is refused
// with DENIED when the blobs it adds would take a rule's repositories past their allowance. A push
// adding nothing new (a re-tag, an image sharing every blob) is always allowed, so a lowered quota
// never blocks tags from moving. Pushes under one rule are serialized by a transaction-level lock,
// so two concurrent pushes cannot both take the last bytes. The blobs of a refused push stay
// unreferenced and are collected after BERTH_GC_GRACE.
import { lockQuota, prefixUsage } from '../db/usage.js';
import type { Db } from '../db/pool.js';
import { RegistryError } from '../errors/registry-error.js';
import { humanSize as formatBytes } from '../registry/byte-size.js';
import type { Quotas } from '../registry/quotas.js';

/**
 * `notStoredBytes`: what the manifest declares for blobs not stored yet, counted as added too (a
 * pull-through cache stores a manifest before its layers).
 */
export async function assertWithinQuota(tx: Db, quotas: Quotas, repository: string, blobDigests: string[], notStoredBytes = 0): Promise<void> {
  for (const { rule, regexSource } of quotas.rulesFor(repository)) {
    await lockQuota(tx, rule.repository);
    const usage = await prefixUsage(tx, regexSource, blobDigests);
    const { used } = usage;
    const added = usage.added + notStoredBytes;
    if (added > 0 && used + added > rule.bytes) {
      throw new RegistryError('DENIED', {
        message:
          `quota exceeded: this push would add ${formatBytes(added)} to the ${formatBytes(used)} that repositories matching ` +
          `"${rule.repository}" use, over their quota of ${formatBytes(rule.bytes)} (BERTH_QUOTAS); delete images and let garbage collection run, or raise the quota`,
        detail: { repository, quota: { repository: rule.repository, bytes: rule.bytes }, used, added },
      });
    }
  }
}
