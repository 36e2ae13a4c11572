// Listing what the fs store holds under its content addresses (for `berth fsck`): every file that
// looks like a committed blob, plus anything else found there (reported as a foreign object,
// never deleted).
import { opendir, stat } from 'node:fs/promises';
import path from 'node:path';
import { tryParseDigest } from '../../registry/digest.js';
import type { StoredObject } from '../blob-store.js';

/** `<root>/<algorithm>/<2 hex>/<hex>`; `_uploads` (staging) is not committed content. */
export async function* listFsBlobs(root: string): AsyncIterable<StoredObject> {
  for (const algorithm of await entries(root)) {
    if (algorithm === '_uploads') continue;
    for (const fanout of await entries(path.join(root, algorithm))) {
      for (const hex of await entries(path.join(root, algorithm, fanout))) {
        const location = path.join(algorithm, fanout, hex);
        const digest = `${algorithm}:${hex}`;
        const info = await stat(path.join(root, location)).catch(() => undefined);
        if (!info?.isFile()) continue;
        const valid = tryParseDigest(digest) !== undefined && hex.startsWith(fanout);
        yield { digest: valid ? digest : undefined, location, size: info.size };
      }
    }
  }
}

async function entries(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of await opendir(dir)) names.push(entry.name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw err;
  }
  return names.sort();
}
