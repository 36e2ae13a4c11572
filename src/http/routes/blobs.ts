// end-2 GET/HEAD /v2/<name>/blobs/<digest> and end-10 DELETE: reads are one PostgreSQL lookup,
// then bytes streamed from the store (Range → 206; unsatisfiable → 416 with `bytes */<size>`).
import type { Context } from 'koa';
import { RegistryError } from '../../errors/registry-error.js';
import { CONTENT_DIGEST } from '../headers.js';
import { parseRangeHeader } from '../request.js';
import { sendEmpty } from '../respond.js';
import type { RouteDeps } from './context.js';
import { principalOf } from '../../auth/access.js';
import { requestInfo } from '../request-info.js';

export function blobRoutes({ blobs, blobRedirect, urls, pullThrough }: RouteDeps) {
  return {
    async get(ctx: Context, name: string, digestParam: string): Promise<void> {
      const found = await blobs.stat(name, digestParam).catch((missed: unknown) => pullThrough.blobMissed(ctx, name, digestParam, missed));
      if (!found) return; // streamed from the upstream while it was stored
      const { digest, size } = found;
      // The client re-sends its Range to the backend, which answers 206/416 itself.
      const redirect = blobRedirect && ctx.method === 'GET' ? await blobs.redirectUrl(digest) : undefined;
      if (redirect) {
        ctx.set(CONTENT_DIGEST, digest);
        return sendEmpty(ctx, 307, { Location: redirect });
      }
      ctx.set(CONTENT_DIGEST, digest);
      ctx.set('Accept-Ranges', 'bytes');
      ctx.set('ETag', `"${digest}"`);
      ctx.set('Cache-Control', 'max-age=31536000');
      const range = parseRangeHeader(ctx.get('Range') || undefined, size);
      if (range.kind === 'unsatisfiable') {
        throw new RegistryError('RANGE_INVALID', {
          message: 'requested range not satisfiable',
          detail: { size },
          headers: { 'Content-Range': `bytes */${size}` },
        });
      }
      ctx.set('Content-Type', 'application/octet-stream');
      if (range.kind === 'partial') {
        ctx.status = 206;
        ctx.set('Content-Range', `bytes ${range.range.start}-${range.range.end}/${size}`);
      } else {
        ctx.status = 200;
      }
      const length = range.kind === 'partial' ? range.range.end - range.range.start + 1 : size;
      if (ctx.method === 'HEAD') {
        ctx.set('Content-Length', String(length));
        return;
      }
      const content = await blobs.read(digest, { range: range.kind === 'partial' ? range.range : undefined, size });
      ctx.length = length;
      // Past this point Koa writes nothing: the status and headers set above go out with the bytes,
      // which the store sends its fastest way (an open file, an S3 body into reused buffers).
      ctx.respond = false;
      await content.sendTo(ctx.res);
    },

    async delete(ctx: Context, name: string, digestParam: string): Promise<void> {
      await blobs.delete(name, digestParam, { actor: principalOf(ctx).subject, request: requestInfo(ctx, urls) });
      sendEmpty(ctx, 202);
    },
  };
}
