// The collector's settings from the configuration: the server's background collector and
// `berth gc` use the same function, so they always agree.
import type { Config } from '../config.js';
import type { GcOptions } from './collector.js';

export function gcOptions(config: Config): GcOptions {
  return {
    graceMs: config.gc.graceMs,
    uploadTtlMs: config.uploadTtlMs,
    retention: { windowMs: config.history.retentionMs, keep: config.history.keep },
    proxies: config.proxies.map((p) => ({ prefix: p.prefix, keepMs: p.keepMs })),
  };
}
