// Where the CLI finds credentials for a registry, in order: flags, BERTH_USERNAME/BERTH_PASSWORD,
// then what `docker login` stored in ~/.docker/config.json (or $DOCKER_CONFIG/config.json): an
// `auths` entry for the host (base64 user:pass), or a credential helper (`credHelpers` for the host,
// else `credsStore`), run as `docker-credential-<helper> get` exactly as docker does.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { UsageError } from './usage-error.js';

export interface Credentials {
  username: string;
  password: string;
}

export interface CredentialSources {
  username?: string | undefined;
  password?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Directory of config.json; default $DOCKER_CONFIG or ~/.docker. */
  dockerConfigDir?: string | undefined;
}

interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

/** `https://127.0.0.1:5000/v1/`, `127.0.0.1:5000` → `127.0.0.1:5000` (what docker keys entries by). */
export function registryKey(entry: string): string {
  return entry.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '').toLowerCase();
}

function decodeAuth(auth: string): Credentials | undefined {
  const text = Buffer.from(auth, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  return colon > 0 ? { username: text.slice(0, colon), password: text.slice(colon + 1) } : undefined;
}

async function fromHelper(helper: string, host: string): Promise<Credentials | undefined> {
  return new Promise((resolve) => {
    const child = execFile(`docker-credential-${helper}`, ['get'], { timeout: 10_000 }, (err, stdout) => {
      if (err) return resolve(undefined);
      try {
        const parsed = JSON.parse(stdout) as { Username?: string; Secret?: string };
        resolve(parsed.Username && parsed.Secret ? { username: parsed.Username, password: parsed.Secret } : undefined);
      } catch {
        resolve(undefined);
      }
    });
    child.stdin?.end(host);
  });
}

export async function dockerConfigCredentials(host: string, dir: string): Promise<Credentials | undefined> {
  let config: DockerConfig;
  try {
    config = JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8')) as DockerConfig;
  } catch {
    return undefined;
  }
  const key = host.toLowerCase();
  const helper = Object.entries(config.credHelpers ?? {}).find(([k]) => registryKey(k) === key)?.[1];
  if (helper) return fromHelper(helper, host);
  const entry = Object.entries(config.auths ?? {}).find(([k]) => registryKey(k) === key)?.[1];
  if (entry?.auth) {
    const decoded = decodeAuth(entry.auth);
    if (decoded) return decoded;
  }
  if (entry?.username && entry.password) return { username: entry.username, password: entry.password };
  if (config.credsStore) return fromHelper(config.credsStore, host);
  return undefined;
}

/** The credentials to use for `host` (`127.0.0.1:5000`), or undefined for anonymous requests. */
export async function resolveCredentials(host: string, sources: CredentialSources): Promise<Credentials | undefined> {
  const env = sources.env ?? process.env;
  const username = sources.username ?? env.BERTH_USERNAME;
  const password = sources.password ?? env.BERTH_PASSWORD;
  if (username !== undefined && password !== undefined) return { username, password };
  if (username !== undefined || password !== undefined) {
    throw new UsageError('give both a username and a password (--username/--password or BERTH_USERNAME/BERTH_PASSWORD)');
  }
  const dir = sources.dockerConfigDir ?? env.DOCKER_CONFIG ?? path.join(homedir(), '.docker');
  return dockerConfigCredentials(host, dir);
}
