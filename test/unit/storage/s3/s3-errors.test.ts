// What an S3 failure means to a client: the classification behind 503 (unavailable), 507 (no
// room) and everything else, for the shapes the SDK, undici and Node actually throw.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StorageFullError, StorageUnavailableError } from '../../../../src/storage/blob-store.js';
import { isTransportError, toStorageError } from '../../../../src/storage/s3/s3-errors.js';

function errorWith(fields: Record<string, unknown>, message = 'failed', cause?: unknown): Error {
  return Object.assign(new Error(message, cause === undefined ? undefined : { cause }), fields);
}

describe('toStorageError (S3 error classification)', () => {
  it('makes every transport failure StorageUnavailableError, however deep the socket error sits', () => {
    const transport = [
      errorWith({ code: 'ECONNREFUSED' }),
      errorWith({ code: 'ECONNRESET' }, 'read ECONNRESET'),
      errorWith({ code: 'UND_ERR_SOCKET', name: 'SocketError' }, 'other side closed'),
      errorWith({ code: 'UND_ERR_HEADERS_TIMEOUT' }),
      errorWith({ code: 'UND_ERR_BODY_TIMEOUT' }),
      errorWith({ code: 'UND_ERR_CLOSED' }),
      errorWith({ code: 'EAI_AGAIN' }, 'getaddrinfo EAI_AGAIN s3.example'),
      errorWith({ code: 'ENOTFOUND' }),
      errorWith({ name: 'TimeoutError' }),
      new TypeError('terminated', { cause: errorWith({ code: 'UND_ERR_SOCKET' }) }),
      errorWith({}, 'fetch failed', errorWith({}, 'wrapped', errorWith({ code: 'ETIMEDOUT' }))),
      errorWith({ $metadata: { attempts: 3 } }, 'the SDK never got an answer'),
      new Error('socket hang up'),
      new Error('the object server closed the connection'),
    ];
    for (const err of transport) {
      assert.ok(isTransportError(err), err.message);
      const mapped = toStorageError(err, 'GetObject');
      assert.ok(mapped instanceof StorageUnavailableError, `${err.message}: ${String(mapped)}`);
      assert.equal((mapped as StorageUnavailableError).cause, err);
    }
  });

  it('makes an S3 server with no room StorageFullError', () => {
    for (const err of [
      errorWith({ name: 'XMinioStorageFull', $metadata: { httpStatusCode: 507 } }),
      errorWith({ Code: 'QuotaExceeded', $metadata: { httpStatusCode: 403 } }),
      errorWith({ name: 'Unknown', $metadata: { httpStatusCode: 507 } }),
    ]) {
      assert.ok(toStorageError(err, 'UploadPart') instanceof StorageFullError, String(err));
    }
  });

  it('leaves alone what is not the storage being away: a client hanging up, an abort, a missing key, a bad request, a bug', () => {
    const clientGone = errorWith({ code: 'ECONNRESET' }, 'aborted');
    const abort = errorWith({ name: 'AbortError' });
    const undiciAbort = errorWith({ code: 'UND_ERR_ABORTED' });
    const missing = errorWith({ name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } });
    const forbidden = errorWith({ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
    const bug = new Error('S3 answered 10 bytes for k (whole), 20 expected');
    for (const err of [clientGone, abort, undiciAbort, missing, forbidden, bug]) {
      assert.equal(toStorageError(err, 'GetObject'), err, err.message);
    }
  });
});
