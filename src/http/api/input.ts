// Reading /api/v1 requests: paging parameters, revision numbers, times and JSON bodies. Bad input
// is a 400 in the error envelope naming the parameter, never a 500.
import type { Context } from 'koa';
import { RegistryError } from '../../errors/registry-error.js';
import { querySingle } from '../request.js';

export const DEFAULT_PAGE = 100;
export const MAX_PAGE = 1000;
const MAX_JSON_BODY = 64 * 1024;

/** `n` (default 100, at most 1000): PAGINATION_NUMBER_INVALID unless 1…1000. */
export function pageSize(ctx: Context): number {
  const n = querySingle(ctx, 'n');
  if (n === undefined || n === '') return DEFAULT_PAGE;
  if (!/^\d{1,9}$/.test(n) || Number(n) < 1 || Number(n) > MAX_PAGE) {
    throw new RegistryError('PAGINATION_NUMBER_INVALID', { message: `n must be an integer from 1 to ${MAX_PAGE}`, detail: { n: n.slice(0, 20) } });
  }
  return Number(n);
}

export function optionalQuery(ctx: Context, name: string): string | undefined {
  const v = querySingle(ctx, name);
  return v === undefined || v === '' ? undefined : v;
}

export function requiredQuery(ctx: Context, name: string): string {
  const v = optionalQuery(ctx, name);
  if (v === undefined) throw new RegistryError('REQUEST_INVALID', { message: `query parameter "${name}" is required`, detail: { parameter: name } });
  return v;
}

/** A revision number: a positive integer. */
export function parseRevision(value: unknown, name: string): number {
  const ok = (typeof value === 'number' && Number.isSafeInteger(value)) || (typeof value === 'string' && /^\d{1,9}$/.test(value));
  const n = Number(value);
  if (!ok || n < 1 || n > 2_147_483_647) {
    throw new RegistryError('REQUEST_INVALID', { message: `${name} must be a revision number (a positive integer)`, detail: { [name]: String(value).slice(0, 40) } });
  }
  return n;
}

/** RFC 3339 date-time with a zone (`2026-11-20T14:00:00Z`, `…+01:00`); a date alone means its midnight UTC. */
export function parseTime(value: unknown, name: string): Date {
  const text = typeof value === 'string' ? value : '';
  const rfc3339 = /^\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:[Zz]|[+-]\d{2}:\d{2}))?$/;
  const time = rfc3339.test(text) ? new Date(text.length === 10 ? `${text}T00:00:00Z` : text) : new Date(NaN);
  if (Number.isNaN(time.getTime())) {
    throw new RegistryError('REQUEST_INVALID', {
      message: `${name} must be an RFC 3339 time with a zone, like 2026-11-20T14:00:00Z`,
      detail: { [name]: String(value).slice(0, 60) },
    });
  }
  return time;
}

/** The request body as a JSON object (an empty body is `{}`). */
export async function readJsonObject(ctx: Context): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of ctx.req) {
    total += (chunk as Buffer).length;
    if (total > MAX_JSON_BODY) throw new RegistryError('REQUEST_INVALID', { message: `the body is larger than ${MAX_JSON_BODY} bytes` });
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new RegistryError('REQUEST_INVALID', { message: 'the body is not valid JSON' });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new RegistryError('REQUEST_INVALID', { message: 'the body must be a JSON object' });
  }
  return parsed as Record<string, unknown>;
}
