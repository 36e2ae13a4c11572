// Listing what the S3 store holds under its content addresses (for `berth fsck`): every key that
// looks like a committed blob, plus anything else found there (reported as a foreign object,
// never deleted).
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { tryParseDigest } from '../../registry/digest.js';
import type { StoredObject } from '../blob-store.js';
import { toStorageError } from './s3-errors.js';

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
