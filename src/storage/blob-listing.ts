// Listing what a blob store holds under its content addresses (for `berth fsck`): each driver
// walks its own layout and yields every object that looks like a committed blob, plus anything
// else it finds there (reported as a foreign object, never deleted).
import { opendir, stat } from 'node:fs/promises';
import path from 'node:path';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { tryParseDigest } from '../registry/digest.js';
import type { StoredObject } from './blob-store.js';
import { toStorageError } from './s3/s3-errors.js';

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

/** Every key under `<prefix>blobs/`, a page (1000 keys) at a time. */
export async function* listS3Blobs(client: S3Client, bucket: string, prefix: string): AsyncIterable<StoredObject> {
  const base = `${prefix}blobs/`;
  let token: string | undefined;
  do {
    let page;
    try {
      page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: base, ContinuationToken: token }));
    } catch (err) {
      throw toStorageError(err, 'ListObjectsV2');
    }
    for (const o of page.Contents ?? []) {
      if (!o.Key) continue;
      const m = /^([a-z0-9]+)\/([0-9a-f]{2})\/([0-9a-f]+)$/.exec(o.Key.slice(base.length));
      const digest = m && m[3]!.startsWith(m[2]!) && tryParseDigest(`${m[1]}:${m[3]}`) ? `${m[1]}:${m[3]}` : undefined;
      yield { digest, location: o.Key, size: o.Size ?? 0 };
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
}
