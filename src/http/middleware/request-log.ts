// One JSON log line per request, with a request id that is also sent back to the client. Never
// logs bodies or credentials: only the fields listed here.
import { randomUUID } from 'node:crypto';
import type { Context, Next } from 'koa';
import type { Logger } from 'pino';
import { REQUEST_ID } from '../headers.js';
import { CLIENT_CLOSED_STATUS, clientAbandoned } from '../client-abandoned.js';

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
        // A client that hung up is not a server fault, whatever error its cut body caused: logged
        // at info as 499 (with the status the response would have had), never as "request failed".
        const aborted = clientAbandoned(ctx.res);
        const status = aborted ? CLIENT_CLOSED_STATUS : ctx.status;
        const failed = status >= 500 && !aborted;
        // Below the logger's level the line is dropped anyway: skip building it (a hot path).
        if (!logger.isLevelEnabled(failed ? 'error' : 'info')) return;
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
          err: aborted ? undefined : (ctx.state.error as unknown),
          ...(aborted ? { aborted: true, unsentStatus: ctx.status } : {}),
        };
        if (failed) logger.error(fields, 'request failed');
        else if (aborted) logger.info(fields, 'request aborted by the client');
        else logger.info(fields, 'request');
      };
      // Streamed bodies finish after the middleware chain; log when the response really ends.
      if (ctx.res.writableFinished || ctx.res.destroyed) done();
      else ctx.res.once('close', done);
    }
  };
}
