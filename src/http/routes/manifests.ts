// end-3 GET/HEAD, end-7 PUT, end-9 DELETE /v2/<name>/manifests/<reference>. Reads are one
// PostgreSQL round trip and never touch the blob store; the stored bytes go out as pushed.
import type { Context } from 'koa';
import type { TagChangeContext } from '../../db/tags.js';
import { RegistryError } from '../../errors/registry-error.js';
import { bareMediaType } from '../../registry/media-types.js';
import { acceptsManifest } from '../accept.js';
import { principalOf } from '../../auth/access.js';
import { MAX_MANIFEST_BYTES } from '../../services/manifests.js';
import { CONTENT_DIGEST, OCI_SUBJECT, OCI_TAG } from '../headers.js';
import { queryList, readBody } from '../request.js';
import { sendEmpty } from '../respond.js';
import type { RouteDeps } from './context.js';
import { requestInfo } from '../request-info.js';

/** Who changed a tag, for its history: the principal the access check recorded. */
export function tagChangeContext(ctx: Context): TagChangeContext {
  return { actor: principalOf(ctx).subject, clientAddr: ctx.ip, userAgent: ctx.get('User-Agent').slice(0, 512) || undefined };
}

export function manifestRoutes({ manifests, urls, pullThrough }: RouteDeps) {
  return {
    async get(ctx: Context, name: string, reference: string): Promise<void> {
      // A HEAD does not read the payload from PostgreSQL: only its size is sent, as Content-Length.
      const manifest = await pullThrough.manifest(ctx, name, reference, () =>
        ctx.method === 'HEAD' ? manifests.head(name, reference) : manifests.get(name, reference),
      );
      if (!acceptsManifest(ctx.get('Accept'), manifest.mediaType)) {
        throw new RegistryError('MANIFEST_UNKNOWN', {
          message: `manifest is ${manifest.mediaType}, which the Accept header does not allow`,
          detail: { reference, mediaType: manifest.mediaType },
        });
      }
      ctx.status = 200;
      ctx.set('Content-Type', manifest.mediaType);
      ctx.set(CONTENT_DIGEST, manifest.digest);
      ctx.set('ETag', `"${manifest.digest}"`);
      if ('payload' in manifest) ctx.body = manifest.payload;
      else ctx.set('Content-Length', String(manifest.size));
    },

    async put(ctx: Context, name: string, reference: string): Promise<void> {
      const payload = await readBody(ctx, MAX_MANIFEST_BYTES);
      const result = await manifests.put(
        name,
        reference,
        payload,
        bareMediaType(ctx.get('Content-Type')),
        queryList(ctx, 'tag'),
        { ...tagChangeContext(ctx), request: requestInfo(ctx, urls) },
      );
      const headers: Record<string, string> = {
        Location: urls.manifest(ctx, name, result.digest),
        [CONTENT_DIGEST]: result.digest,
      };
      if (result.subject) headers[OCI_SUBJECT] = result.subject;
      sendEmpty(ctx, 201, headers);
      if (queryList(ctx, 'tag').length > 0) ctx.append(OCI_TAG, result.tags);
    },

    async delete(ctx: Context, name: string, reference: string): Promise<void> {
      await manifests.delete(name, reference, { ...tagChangeContext(ctx), request: requestInfo(ctx, urls) });
      sendEmpty(ctx, 202);
    },
  };
}
