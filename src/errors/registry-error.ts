// The error every service throws; the error envelope middleware renders it. Detail goes to the
// client, cause only to the logs.
import { ERROR_CATALOG, type ErrorCode } from './catalog.js';

export interface RegistryErrorOptions {
  message?: string;
  detail?: unknown;
  cause?: unknown;
  /** Extra response headers, e.g. the current `Range` on a 416. */
  headers?: Record<string, string>;
}

export class RegistryError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly detail: unknown;
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, options: RegistryErrorOptions = {}) {
    super(options.message ?? ERROR_CATALOG[code].message, { cause: options.cause });
    this.name = 'RegistryError';
    this.code = code;
    this.status = ERROR_CATALOG[code].status;
    this.detail = options.detail;
    this.headers = options.headers ?? {};
  }

  /** The spec's error body: `{"errors":[{"code","message","detail"}]}`. */
  toBody(): { errors: { code: string; message: string; detail: unknown }[] } {
    return { errors: [{ code: this.code, message: this.message, detail: this.detail ?? null }] };
  }
}
