// Small response helpers shared by the routes.
import type { Context } from 'koa';

/** A status with an empty body and `Content-Length: 0` (Koa would otherwise write the reason phrase). */
export function sendEmpty(ctx: Context, status: number, headers: Record<string, string> = {}): void {
  ctx.status = status;
  for (const [name, value] of Object.entries(headers)) ctx.set(name, value);
  ctx.body = '';
}
