// Input PostgreSQL cannot store: text with a NUL character (0x00) fails any query it reaches with
// "invalid byte sequence for encoding UTF8", and percent-encoded bytes that are not UTF-8 decode
// to nothing a client meant. Both are refused here, before routing, for the path and every query
// parameter, with the OCI code of what the bad part names; PostgreSQL's own refusal of such text
// (a header or JSON field that got past this) is mapped to the same 400 by fromUnstorableInput.
// Header values cannot carry NUL at all: Node's HTTP parser answers 400 before Koa sees them.
import type { Context, Next } from 'koa';
import type { ErrorCode } from '../../errors/catalog.js';
import { RegistryError } from '../../errors/registry-error.js';

/** SQLSTATEs of text PostgreSQL refused: 22021 invalid byte sequence (NUL), 22P05 untranslatable. */
const UNSTORABLE_SQLSTATES = new Set(['22021', '22P05']);

/** Query parameters of /v2 and the code a bad value gets; any other is REQUEST_INVALID. */
const V2_PARAMETER_CODES: Record<string, ErrorCode> = {
  n: 'PAGINATION_NUMBER_INVALID',
  last: 'PAGINATION_NUMBER_INVALID',
  digest: 'DIGEST_INVALID',
  mount: 'DIGEST_INVALID',
  from: 'NAME_INVALID',
  tag: 'MANIFEST_INVALID',
};

/** The code for a bad part of a /v2 path: the segment after `manifests`, `blobs`, … names what it is. */
function pathSegmentCode(segments: string[], index: number): ErrorCode {
  const previous = segments[index - 1];
  const last = index === segments.length - 1;
  if (last && previous === 'manifests') return 'MANIFEST_INVALID';
  if (last && (previous === 'blobs' || previous === 'referrers')) return 'DIGEST_INVALID';
  if (last && previous === 'uploads') return 'BLOB_UPLOAD_INVALID';
  return 'NAME_INVALID';
}

/** The code for input refused where no finer one is known: by the API area of `path`. */
function areaCode(path: string): ErrorCode {
  if (!path.startsWith('/v2/')) return 'REQUEST_INVALID';
  if (/\/manifests\/[^/]+$/.test(path)) return 'MANIFEST_INVALID';
  if (/\/blobs\/uploads(\/[^/]*)?$/.test(path)) return 'BLOB_UPLOAD_INVALID';
  if (/\/tags\/list$/.test(path) || path === '/v2/_catalog') return 'PAGINATION_NUMBER_INVALID';
  return 'NAME_INVALID';
}

/** The decoded text of a percent-encoded part, or undefined when it holds NUL or is not UTF-8. */
function storableText(raw: string, plusIsSpace: boolean): string | undefined {
  let text: string;
  try {
    text = decodeURIComponent(plusIsSpace ? raw.replace(/\+/g, ' ') : raw);
  } catch {
    return undefined;
  }
  return text.includes('\u0000') ? undefined : text;
}

function refuse(code: ErrorCode, where: string, detail: Record<string, string>): RegistryError {
  return new RegistryError(code, { message: `${where} contains a NUL byte or bytes that are not UTF-8`, detail });
}

export async function rejectUnstorableInput(ctx: Context, next: Next): Promise<void> {
  // A NUL or a byte beyond ASCII can only come percent-encoded (Node's parser refuses raw control
  // bytes): most requests, blob pulls included, have no `%` and pass at the cost of one search.
  if (!ctx.url.includes('%')) return next();
  // ctx.path is the request's path as sent, still percent-encoded.
  const segments = ctx.path.split('/');
  const isV2 = segments[1] === 'v2';
  for (let i = 0; i < segments.length; i++) {
    if (storableText(segments[i]!, false) === undefined) {
      throw refuse(isV2 ? pathSegmentCode(segments, i) : 'REQUEST_INVALID', 'the path', { path: ctx.path.slice(0, 300) });
    }
  }
  if (ctx.querystring !== '') {
    for (const pair of ctx.querystring.split('&')) {
      const eq = pair.indexOf('=');
      const rawName = eq < 0 ? pair : pair.slice(0, eq);
      const name = storableText(rawName, true);
      const bad = name === undefined || (eq >= 0 && storableText(pair.slice(eq + 1), true) === undefined);
      if (!bad) continue;
      const code = isV2 ? (V2_PARAMETER_CODES[name ?? ''] ?? 'REQUEST_INVALID') : 'REQUEST_INVALID';
      const parameter = (name ?? rawName).slice(0, 60);
      throw refuse(code, `query parameter ${JSON.stringify(parameter)}`, { parameter, value: pair.slice(eq + 1, eq + 101) });
    }
  }
  await next();
}

function sqlState(err: unknown): string | undefined {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && UNSTORABLE_SQLSTATES.has(code)) return code;
  }
  return undefined;
}

/** PostgreSQL refused text from the request (a NUL that came another way): 400, not 500. */
export function fromUnstorableInput(err: unknown, ctx: Context): RegistryError | undefined {
  if (sqlState(err) === undefined) return undefined;
  return new RegistryError(areaCode(ctx.path), {
    message: 'the request contains text that cannot be stored (a NUL byte or bytes that are not UTF-8)',
    cause: err,
  });
}
