// The only place an error becomes a response: status from the catalog, the spec's JSON envelope,
// extra headers the error carries. 5xx are logged with their cause; 4xx are the client's business.
import type { Context, Next } from 'koa';
import { DATABASE_RETRY_AFTER_SECONDS, isDatabaseUnavailable } from '../../db/unavailable.js';
import { ERROR_CATALOG, type ErrorCode } from '../../errors/catalog.js';
import { RegistryError } from '../../errors/registry-error.js';
import { StorageFullError, StorageUnavailableError } from '../../storage/blob-store.js';
import { fromUnstorableInput } from './storable-input.js';

/** Errors that are not the client's fault but are worth retrying: 503 with Retry-After. */
function fromUnavailable(err: unknown): RegistryError | undefined {
  if (err instanceof StorageUnavailableError) {
    return new RegistryError('UNAVAILABLE', {
      message: 'blob storage is unavailable, try again later',
      cause: err,
      headers: { 'Retry-After': String(err.retryAfterSeconds) },
    });
  }
  if (isDatabaseUnavailable(err)) {
    return new RegistryError('UNAVAILABLE', {
      message: 'the database is unavailable, try again later',
      cause: err,
      headers: { 'Retry-After': String(DATABASE_RETRY_AFTER_SECONDS) },
    });
  }
  return undefined;
}

/** No room for the bytes (or below the free-space reserve): 507, retried by clients later. */
function fromStorageFull(err: unknown): RegistryError | undefined {
  if (!(err instanceof StorageFullError)) return undefined;
  return new RegistryError('STORAGE_FULL', {
    message: `the registry storage is full: ${err.message}`,
    cause: err,
    headers: { 'Retry-After': String(err.retryAfterSeconds) },
  });
}

function fromHttpError(err: { status?: number; expose?: boolean; message?: string }): RegistryError | undefined {
  const status = err.status;
  if (typeof status !== 'number' || status < 400 || status >= 500) return undefined;
  const code = (Object.keys(ERROR_CATALOG) as ErrorCode[]).find((c) => ERROR_CATALOG[c].status === status);
  return code ? new RegistryError(code, err.expose ? { message: err.message } : {}) : undefined;
}

export async function errorEnvelope(ctx: Context, next: Next): Promise<void> {
  try {
    await next();
  } catch (caught) {
    const err =
      caught instanceof RegistryError
        ? caught
        : (fromUnavailable(caught) ?? fromStorageFull(caught) ?? fromUnstorableInput(caught, ctx) ?? fromHttpError(caught as object));
    if (!err) {
      ctx.state.error = caught;
      const unknown = new RegistryError('UNKNOWN', { cause: caught });
      render(ctx, unknown);
      return;
    }
    if (err.status >= 500) ctx.state.error = err.cause ?? err;
    render(ctx, err);
  }
}

function render(ctx: Context, err: RegistryError): void {
  ctx.status = err.status;
  for (const [name, value] of Object.entries(err.headers)) ctx.set(name, value);
  ctx.set('Content-Type', 'application/json');
  ctx.body = JSON.stringify(err.toBody());
}
