// Counts every request once its response has really ended (streamed bodies finish after the
// middleware chain): count and duration by route template and status, bytes on the connection,
// uploads streaming in.
import type { Socket } from 'node:net';
import type { Context, Next } from 'koa';
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
    let counted = false;
    const done = () => {
      if (counted) return;
      counted = true;
      if (upload) metrics.uploadsInFlight.dec();
      const route = routeTemplate(ctx);
      const labels = { method: ctx.method, route, status: String(ctx.status) };
      metrics.httpRequests.inc(labels);
      metrics.httpDuration.observe(labels, Number(process.hrtime.bigint() - started) / 1e9);
      const previous = countedUntil.get(socket) ?? { read: 0, written: 0 };
      const now = { read: socket.bytesRead, written: socket.bytesWritten };
      countedUntil.set(socket, now);
      metrics.bytesReceived.inc({ route }, Math.max(0, now.read - previous.read));
      metrics.bytesSent.inc({ route }, Math.max(0, now.written - previous.written));
    };
    try {
      await next();
    } finally {
      if (ctx.res.writableFinished || ctx.res.destroyed) done();
      else ctx.res.once('close', done);
    }
  };
}
