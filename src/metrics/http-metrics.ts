// Counts every request once its response has really ended or its connection closed, which need not
// be when the middleware chain returns (a streamed body ends later, a handler writing the response
// itself may end it earlier): count and duration by route template and status, bytes on the
// connection, uploads streaming in.
import type { Socket } from 'node:net';
import type { Context, Next } from 'koa';
import { CLIENT_CLOSED_STATUS, clientAbandoned } from '../http/client-abandoned.js';
import type { Metrics } from './metrics.js';
import { isUploadRequest, routeTemplate } from './route-template.js';

/**
 * Byte counts of each connection when its previous request ended. A connection carries one request
 * at a time, and node reads ahead of the request being parsed, so counting from the previous
 * request's end (or the connection's start) is what gets every byte of this one.
 */
const countedUntil = new WeakMap<Socket, { read: number; written: number }>();

export function httpMetrics(metrics: Metrics) {
  return async function measureRequest(ctx: Context, next: Next): Promise<void> {
    const started = process.hrtime.bigint();
    const socket = ctx.req.socket;
    const upload = isUploadRequest(ctx.method, routeTemplate(ctx));
    if (upload) metrics.uploadsInFlight.inc();
    // On the response's close, not when the chain returns: a handler that writes the response
    // itself can end it long before its own cleanup (closing a file) lets the chain return, and a
    // scrape in between would miss the request. A client gone before the answer is counted then
    // too, as 499 rather than with the 404 Koa presets for a request still being handled.
    ctx.res.once('close', () => {
      if (upload) metrics.uploadsInFlight.dec();
      const route = routeTemplate(ctx);
      // A client gone before the response ended is 499 (nginx's "client closed request"), also
      // when a status line went out: never a 5xx, so a 5xx alert means a fault on this side.
      const aborted = clientAbandoned(ctx.res);
      const status = aborted || !ctx.res.headersSent ? String(CLIENT_CLOSED_STATUS) : String(ctx.res.statusCode);
      const labels = { method: ctx.method, route, status };
      metrics.httpRequests.inc(labels);
      if (aborted) metrics.httpAborted.inc({ method: ctx.method, route });
      metrics.httpDuration.observe(labels, Number(process.hrtime.bigint() - started) / 1e9);
      const previous = countedUntil.get(socket) ?? { read: 0, written: 0 };
      const now = { read: socket.bytesRead, written: socket.bytesWritten };
      countedUntil.set(socket, now);
      metrics.bytesReceived.inc({ route }, Math.max(0, now.read - previous.read));
      metrics.bytesSent.inc({ route }, Math.max(0, now.written - previous.written));
    });
    await next();
  };
}
