// Which Berth the client commands talk to: --registry, else BERTH_REGISTRY, else the server's own
// settings from the same environment (BERTH_PUBLIC_URL, then BERTH_ADDR), so that on the machine
// running Berth the CLI finds it however it was configured; else Berth's default address.
import { isLoopback } from '../config.js';
import { UsageError } from '../usage-error.js';

export interface RegistryAddress {
  url: URL;
  /** Where the address came from, for messages: `--registry`, `BERTH_ADDR`, `the default`. */
  source: string;
}

export const DEFAULT_REGISTRY = 'http://127.0.0.1:5000';

function unbracket(host: string): string {
  return host.replace(/^\[|\]$/g, '');
}

/** `127.0.0.1:5000` → http (loopback) or https (anything else); a URL is taken as it is. */
export function registryUrl(value: string, source: string): URL {
  const withScheme = /^[a-z]+:\/\//i.test(value) ? value : `${isLoopback(unbracket(value.replace(/:\d+$/, ''))) ? 'http' : 'https'}://${value}`;
  try {
    return new URL(withScheme);
  } catch {
    throw new UsageError(`${source} must be a URL like http://127.0.0.1:5000, got "${value}"`);
  }
}

/** BERTH_ADDR is where the server listens; a wildcard address (`0.0.0.0`, `::`, empty) is reached on loopback. */
function listenAddressUrl(addr: string): URL {
  const m = /^(?:\[([^\]]*)\]|([^:]*)):(\d{1,5})$/.exec(addr);
  if (!m) throw new UsageError(`BERTH_ADDR must be host:port, got "${addr}"`);
  const host = m[1] ?? m[2] ?? '';
  const reachable = host === '' || host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host;
  return registryUrl(`${reachable}:${m[3]}`, 'BERTH_ADDR');
}

export function resolveRegistry(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): RegistryAddress {
  if (flag !== undefined) return { url: registryUrl(flag, '--registry'), source: '--registry' };
  if (env.BERTH_REGISTRY) return { url: registryUrl(env.BERTH_REGISTRY, 'BERTH_REGISTRY'), source: 'BERTH_REGISTRY' };
  if (env.BERTH_PUBLIC_URL) return { url: registryUrl(env.BERTH_PUBLIC_URL, 'BERTH_PUBLIC_URL'), source: 'BERTH_PUBLIC_URL' };
  if (env.BERTH_ADDR) return { url: listenAddressUrl(env.BERTH_ADDR), source: 'BERTH_ADDR' };
  return { url: new URL(DEFAULT_REGISTRY), source: 'the default' };
}
