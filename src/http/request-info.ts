// The request behind a change, as webhook events describe it (Distribution's `request` block).
import type { Context } from 'koa';
import type { RequestInfo } from '../notify/notifier.js';
import type { UrlBuilder } from './urls.js';

export function requestInfo(ctx: Context, urls: UrlBuilder): RequestInfo {
  return {
    id: ctx.state.reqId as string | undefined,
    addr: ctx.ip,
    host: ctx.host,
    method: ctx.method,
    userAgent: ctx.get('User-Agent').slice(0, 512) || undefined,
    baseUrl: urls.externalBase(ctx),
  };
}
