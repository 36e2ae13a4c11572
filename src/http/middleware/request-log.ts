// One JSON log line per request, with a request id that is also sent back to the client. Never
// logs bodies or credentials: only the fields listed here.
import { randomUUID } from 'node:crypto';
import type { Context, Next } from 'koa';
import type { Logger } from 'pino';
import { REQUEST_ID } from '../headers.js';

const REQUEST_ID_FORMAT = /^[\w.:-]{1,128}$/;

export function requestLog(logger: Logger) {
  return async function logRequest(ctx: Context, next: Next): Promise<void> {
    const started = process.hrtime.bigint();
    const offered = ctx.get(REQUEST_ID);
    const reqId = REQUEST_ID_FORMAT.test(offered) ? offered : randomUUID();
    ctx.state.reqId = reqId;
    ctx.set(REQUEST_ID, reqId);
    // Read now: when a client's socket is torn down mid-body, `ctx.ip` at 'close' would throw.
    const remote = ctx.ip;
    try {
      await next();
    } finally {
      const done = () => {
        const status = ctx.status;
        // Below the logger's level the line is dropped anyway: skip building it (a hot path).
        if (!logger.isLevelEnabled(status >= 500 ? 'error' : 'info')) return;
        const fields = {
          reqId,
          method: ctx.method,
          path: ctx.path,
          status,
          ms: Number(process.hrtime.bigint() - started) / 1e6,
          bytesIn: Number(ctx.get('Content-Length')) || 0,
          bytesOut: ctx.response.length ?? 0,
          remote,
          userAgent: ctx.get('User-Agent') || undefined,
          err: ctx.state.error as unknown,
        };
        if (status >= 500) logger.error(fields, 'request failed');
        else logger.info(fields, 'request');
      };
      // Streamed bodies finish after the middleware chain; log when the response really ends.
      if (ctx.res.writableFinished || ctx.res.destroyed) done();
      else ctx.res.once('close', done);
    }
  };
}
