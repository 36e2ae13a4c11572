// BERTH_PROXIES: which repository prefixes are pull-through caches of which upstream registry.
// Parsed by config.ts with the project's JSON-setting reader; everything else receives ProxyConfig.
/** One pull-through cache: `<prefix>/<name>` in Berth is `<name>` on `upstream`. */
export interface ProxyConfig {
  /** The repository prefix in Berth, e.g. `hub` (one path component). */
  prefix: string;
  /** The upstream registry's base URL, without a trailing slash. */
  upstream: string;
  /** Also answers names under no prefix (dockerd's `registry-mirrors` sends `library/alpine`). */
  mirror: boolean;
  /** Names of one component get Docker Hub's `library/` (`hub/alpine` is `library/alpine`). */
  libraryPrefix: boolean;
  /** Sent only to `upstream`, never logged. */
  credentials: { username: string; password: string } | { token: string } | undefined;
  /** How long a tag is trusted before it is checked again with a HEAD. */
  tagTtlMs: number;
  /** Cached content not pulled for this long is evicted by garbage collection. */
  keepMs: number;
  /** Upper bound for the upstream's answer headers before it counts as unreachable. */
  timeoutMs: number;
}

/** Docker Hub, whose one-component names live under `library/`. */
export function isDockerHub(upstream: string): boolean {
  return /^https:\/\/(registry-1\.docker\.io|index\.docker\.io|docker\.io)$/.test(upstream);
}

export const PROXIES_EXAMPLE = '[{"prefix":"hub","upstream":"https://registry-1.docker.io","mirror":true,"tagTtl":"10m","keep":"30d"}]';
