// The route a request matched, as a template ("/v2/{name}/blobs/{digest}"): metric labels must not
// carry repository names, digests or upload ids, or every push would create new time series.
import type { Context } from 'koa';

const V2_TEMPLATES: readonly [RegExp, string][] = [
  [/^\/v2\/?$/, '/v2/'],
  [/^\/v2\/_catalog$/, '/v2/_catalog'],
  [/^\/v2\/.+\/blobs\/uploads\/?$/, '/v2/{name}/blobs/uploads/'],
  [/^\/v2\/.+\/blobs\/uploads\/[^/]+$/, '/v2/{name}/blobs/uploads/{uuid}'],
  [/^\/v2\/.+\/blobs\/[^/]+$/, '/v2/{name}/blobs/{digest}'],
  [/^\/v2\/.+\/manifests\/[^/]+$/, '/v2/{name}/manifests/{reference}'],
  [/^\/v2\/.+\/tags\/list$/, '/v2/{name}/tags/list'],
  [/^\/v2\/.+\/referrers\/[^/]+$/, '/v2/{name}/referrers/{digest}'],
];

/** Requests no route took (404s of scanners and typos) share one label. */
export const UNMATCHED_ROUTE = 'unmatched';

/**
 * The /v2 table above for the registry's regular-expression routes; for routes declared with a
 * path string (@koa/router records it as `_matchedRoute`, e.g. "/api/v1/…/:name"), that string.
 */
export function routeTemplate(ctx: Context): string {
  for (const [pattern, template] of V2_TEMPLATES) if (pattern.test(ctx.path)) return template;
  const matched = (ctx as { _matchedRoute?: unknown })._matchedRoute;
  return typeof matched === 'string' ? matched : UNMATCHED_ROUTE;
}

/** Upload routes whose requests stream a body into the store. */
export function isUploadRequest(method: string, route: string): boolean {
  if (route === '/v2/{name}/blobs/uploads/{uuid}') return method === 'PATCH' || method === 'PUT';
  return route === '/v2/{name}/blobs/uploads/' && method === 'POST';
}
