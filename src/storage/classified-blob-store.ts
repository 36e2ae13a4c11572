// A BlobStore decorator that passes every failure of the store underneath through one classifier,
// so what a backend's errors mean (S3: transport failures → StorageUnavailableError, no room →
// StorageFullError) is decided in one place whichever of its code paths failed: an SDK call, a
// body read mid-stream, a part upload in the background. Staged bytes read back (readUpload) are
// classified too, since the service consumes them inside the request; a blob read for a pull is
// not: its headers are out, and a failure can only cut the response short.
import { PassThrough, Readable } from 'node:stream';
import type { BlobStore } from './blob-store.js';

export type ErrorClassifier = (err: unknown, operation: string) => unknown;

function classifiedStream(source: Readable, classify: (err: unknown) => unknown): Readable {
  const out = new PassThrough({ readableHighWaterMark: source.readableHighWaterMark });
  source.once('error', (err) => out.destroy(classify(err) as Error));
  out.once('close', () => {
    if (!source.destroyed) source.destroy();
  });
  source.pipe(out);
  return out;
}

export function classifyStoreErrors(inner: BlobStore, classify: ErrorClassifier): BlobStore {
  return new Proxy(inner, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function' || typeof property !== 'string') return value;
      const operation = property;
      const fail = (err: unknown): never => {
        throw classify(err, operation);
      };
      return (...args: unknown[]) => {
        let result: unknown;
        try {
          result = (value as (...a: unknown[]) => unknown).apply(target, args);
        } catch (err) {
          return fail(err);
        }
        if (!(result instanceof Promise)) return result;
        return result.then(
          (resolved: unknown) => (operation === 'readUpload' && resolved instanceof Readable ? classifiedStream(resolved, (err) => classify(err, operation)) : resolved),
          fail,
        );
      };
    },
  });
}
