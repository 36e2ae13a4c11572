// Pushing a blob, as docker, containerd and the conformance suite do it:
//   POST   /v2/<name>/blobs/uploads/                      end-4a → 202, Location, Range: 0-0
//   POST   /v2/<name>/blobs/uploads/?digest=<d>  (body)   end-4b → 201 (single request)
//   POST   /v2/<name>/blobs/uploads/?mount=<d>&from=<r>   end-11 → 201 if <r> has <d>, else 202 as end-4a
//   PATCH  <location>  Content-Range: <s>-<e> (optional)   end-5  → 202, Range: 0-<offset-1>; wrong start → 416
//   PUT    <location>?digest=<d>  (optional last chunk)    end-6  → 201, Location of the blob
//   GET    <location>                                     end-13 → 204, Range (resume)
//   DELETE <location>                                     cancel → 204
// Docker sends POST, one PATCH with the whole layer (no Content-Range), then an empty PUT.
import type { Context } from 'koa';
import { RegistryError } from '../../errors/registry-error.js';
import { isDigestAlgorithm, parseDigest } from '../../registry/digest.js';
import { rangeHeader } from '../../services/uploads.js';
import { CONTENT_DIGEST, UPLOAD_UUID } from '../headers.js';
import { chunkBody, hasBody, querySingle } from '../request.js';
import { sendEmpty } from '../respond.js';
import type { RouteDeps } from './context.js';

export function uploadRoutes({ uploads, urls, access, roomForUploads }: RouteDeps) {
  const created = (ctx: Context, name: string, digest: string) =>
    sendEmpty(ctx, 201, { Location: urls.blob(ctx, name, digest), [CONTENT_DIGEST]: digest });
  const inProgress = (ctx: Context, status: number, name: string, id: string, offset: number) =>
    sendEmpty(ctx, status, { Location: urls.upload(ctx, name, id), Range: rangeHeader(offset), [UPLOAD_UUID]: id });
  /** A 416 tells the client where to resume, so it carries the session's Location too. */
  const withLocation = async <T>(ctx: Context, name: string, id: string, task: () => Promise<T>): Promise<T> => {
    try {
      return await task();
    } catch (err) {
      if (err instanceof RegistryError && err.code === 'RANGE_INVALID') err.headers.Location = urls.upload(ctx, name, id);
      throw err;
    }
  };

  return {
    async start(ctx: Context, name: string): Promise<void> {
      const mount = querySingle(ctx, 'mount');
      const digest = querySingle(ctx, 'digest');
      if (mount !== undefined) {
        const parsed = parseDigest(mount);
        // Only from repositories this request may read: otherwise a mount would reveal (and copy) their blobs.
        const readable = access.readableRepositories(ctx);
        if (await uploads.mount(name, parsed.digest, querySingle(ctx, 'from'), readable)) return created(ctx, name, parsed.digest);
      }
      // Below the free-space reserve no new upload starts (a mount above copies no bytes).
      await roomForUploads();
      if (mount === undefined && digest !== undefined) {
        return created(ctx, name, await uploads.uploadWhole(name, digest, chunkBody(ctx)));
      }
      const algorithm = querySingle(ctx, 'digest-algorithm') ?? 'sha256';
      if (!isDigestAlgorithm(algorithm)) {
        throw new RegistryError('DIGEST_INVALID', { message: 'unsupported digest algorithm', detail: { algorithm } });
      }
      const { id, offset } = await uploads.start(name, algorithm);
      inProgress(ctx, 202, name, id, offset);
    },

    async patch(ctx: Context, name: string, id: string): Promise<void> {
      await roomForUploads();
      const { offset } = await withLocation(ctx, name, id, () => uploads.append(name, id, chunkBody(ctx)));
      inProgress(ctx, 202, name, id, offset);
    },

    async put(ctx: Context, name: string, id: string): Promise<void> {
      const body = hasBody(ctx) ? chunkBody(ctx) : undefined;
      if (body) await roomForUploads();
      const digest = await withLocation(ctx, name, id, () => uploads.complete(name, id, querySingle(ctx, 'digest'), body));
      created(ctx, name, digest);
    },

    async status(ctx: Context, name: string, id: string): Promise<void> {
      const { offset } = await uploads.status(name, id);
      inProgress(ctx, 204, name, id, offset);
    },

    async cancel(ctx: Context, name: string, id: string): Promise<void> {
      await uploads.cancel(name, id);
      sendEmpty(ctx, 204);
    },
  };
}
