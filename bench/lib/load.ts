// Fixed-concurrency load for a fixed time with autocannon (used programmatically).
import { createRequire } from 'node:module';
import autocannon from 'autocannon';
import { percentile } from './stats.js';

const require = createRequire(import.meta.url);

/**
 * autocannon's HTTP parser (http-parser-js) does not know a HEAD response has no body, so it waits
 * for Content-Length bytes that never come and every HEAD times out. Its setupClient hook runs
 * before the parser callbacks are installed; this wraps the headers-complete callback as it is
 * installed so that, for HEAD, it answers "skip the body" as node's own parser does.
 */
function skipBodyOnHead(client: unknown): void {
  const { HTTPParser } = require('http-parser-js') as { HTTPParser: { kOnHeadersComplete: number } };
  const parser = (client as { parser: Record<number, unknown> }).parser;
  let fn: ((...a: unknown[]) => unknown) | undefined;
  Object.defineProperty(parser, HTTPParser.kOnHeadersComplete, {
    configurable: true,
    get: () => (...a: unknown[]) => {
      fn?.(...a);
      return true;
    },
    set: (f: (...a: unknown[]) => unknown) => {
      fn = f;
    },
  });
}

export interface LoadResult {
  /** 2xx responses per second */
  rps: number;
  /** latency percentiles in ms, from every 2xx response (not autocannon's 1-ms histogram) */
  p50: number;
  p99: number;
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
}

export async function load(o: {
  url: string;
  method: 'GET' | 'HEAD';
  headers?: Record<string, string>;
  connections: number;
  seconds: number;
}): Promise<LoadResult> {
  const u = new URL(o.url);
  if (u.hostname !== '127.0.0.1') throw new Error(`load only against 127.0.0.1, not ${u.hostname}`);
  const lat: number[] = [];
  let ok = 0;
  let finish!: (r: autocannon.Result) => void;
  let fail!: (e: unknown) => void;
  const done = new Promise<autocannon.Result>((res, rej) => {
    finish = res;
    fail = rej;
  });
  const inst = autocannon(
    {
      url: o.url,
      method: o.method,
      headers: o.headers,
      connections: o.connections,
      pipelining: 1,
      duration: o.seconds,
      timeout: 10,
      ...(o.method === 'HEAD' ? { setupClient: skipBodyOnHead } : {}),
    },
    (err: unknown, result: autocannon.Result) => (err ? fail(err) : finish(result)),
  );
  inst.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
    if (status >= 200 && status < 300) {
      ok++;
      lat.push(ms);
    }
  });
  const r = await done;
  return {
    rps: ok / (r.duration || o.seconds),
    p50: percentile(lat, 50),
    p99: percentile(lat, 99),
    ok,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
  };
}
