// Reading the parts of a request the registry protocol defines: Content-Range of a chunk, Range of
// a blob read, n/last paging, and request bodies.
import type { Context } from 'koa';
import { RegistryError } from '../errors/registry-error.js';
import type { ByteRange } from '../storage/blob-store.js';
import type { ChunkBody, ChunkRange } from '../services/uploads.js';

/**
 * The spec's `Content-Range: <start>-<end>` (inclusive, no unit). The RFC form
 * `bytes <start>-<end>/<size>` some clients send is accepted too.
 */
export function parseContentRange(header: string | undefined): ChunkRange | undefined {
  if (!header) return undefined;
  const m = /^(?:bytes[ =])?(\d{1,15})-(\d{1,15})(?:\/(?:\d{1,15}|\*))?$/.exec(header.trim());
  const start = Number(m?.[1]);
  const end = Number(m?.[2]);
  if (!m || end < start) {
    throw new RegistryError('RANGE_INVALID', { message: 'malformed Content-Range', detail: { contentRange: header.slice(0, 100) } });
  }
  return { start, end };
}

export function parseContentLength(header: string | undefined): number | undefined {
  if (header === undefined || header === '') return undefined;
  if (!/^\d{1,15}$/.test(header)) throw new RegistryError('SIZE_INVALID', { message: 'malformed Content-Length' });
  return Number(header);
}

/** Whether the request carries a body at all (a PUT that closes an upload may not). */
export function hasBody(ctx: Context): boolean {
  return ctx.get('Transfer-Encoding') !== '' || (parseContentLength(ctx.get('Content-Length')) ?? 0) > 0;
}

export function chunkBody(ctx: Context): ChunkBody {
  return {
    stream: ctx.req,
    range: parseContentRange(ctx.get('Content-Range') || undefined),
    length: parseContentLength(ctx.get('Content-Length')),
  };
}

export type RangeRequest = { kind: 'whole' } | { kind: 'partial'; range: ByteRange } | { kind: 'unsatisfiable' };

/**
 * RFC 9110 `Range: bytes=a-b | a- | -n` for blob reads. An end before the start is answered 416,
 * as the conformance suite expects; other forms (multiple ranges, other units) get the whole blob.
 */
export function parseRangeHeader(header: string | undefined, size: number): RangeRequest {
  const m = header ? /^bytes=(\d*)-(\d*)$/.exec(header.trim()) : null;
  if (!m || (m[1] === '' && m[2] === '')) return { kind: 'whole' };
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return { kind: 'unsatisfiable' };
    start = Math.max(size - suffix, 0);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== '' && Number(m[2]) < start) return { kind: 'unsatisfiable' };
  }
  if (start >= size) return { kind: 'unsatisfiable' };
  return { kind: 'partial', range: { start, end } };
}

/** `n` and `last` of tag and catalog listings; `n` must be a non-negative integer. */
export function parsePaging(ctx: Context): { n: number | undefined; last: string | undefined } {
  const n = typeof ctx.query.n === 'string' ? ctx.query.n : undefined;
  const last = typeof ctx.query.last === 'string' && ctx.query.last !== '' ? ctx.query.last : undefined;
  if (n !== undefined && !/^\d{1,9}$/.test(n)) {
    throw new RegistryError('PAGINATION_NUMBER_INVALID', { detail: { n: n.slice(0, 20) } });
  }
  return { n: n === undefined ? undefined : Number(n), last };
}

/** Reads a whole body of at most `limit` bytes; 413 beyond it, without buffering the excess. */
export async function readBody(ctx: Context, limit: number): Promise<Buffer> {
  const declared = parseContentLength(ctx.get('Content-Length'));
  const tooLarge = () =>
    new RegistryError('MANIFEST_TOO_LARGE', { detail: { limit, size: declared ?? null } });
  if (declared !== undefined && declared > limit) throw tooLarge();
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of ctx.req) {
    total += (chunk as Buffer).length;
    if (total > limit) throw tooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, total);
}

/** Query parameters that may repeat (`?tag=a&tag=b`). */
export function queryList(ctx: Context, name: string): string[] {
  const v = ctx.query[name];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

export function querySingle(ctx: Context, name: string): string | undefined {
  const v = ctx.query[name];
  return Array.isArray(v) ? v[0] : v;
}
