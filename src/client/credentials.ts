// Where the CLI finds credentials for a registry, in order: flags, BERTH_USERNAME/BERTH_PASSWORD,
// then what `docker login` stored in ~/.docker/config.json (or $DOCKER_CONFIG/config.json): a
// credential helper for the host (`credHelpers`), an `auths` entry for the host (an `identitytoken`,
// which Berth hands docker at login, or base64 user:pass), else the default helper (`credsStore`).
// Helpers run as `docker-credential-<helper> get` with the server on stdin, exactly as docker runs
// them; a helper answering Username `<token>` holds an identity token, as docker stores them.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { UsageError } from '../usage-error.js';

/** A password (HTTP Basic to the token endpoint), or a refresh token from `docker login` (OAuth2 refresh grant). */
export type Credentials = { username: string; password: string } | { username: string | undefined; identityToken: string };

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

/** What docker's credential helpers answer for an identity token instead of a user name. */
const IDENTITY_TOKEN_USERNAME = '<token>';

/** `https://127.0.0.1:5000/v1/`, `127.0.0.1:5000` → `127.0.0.1:5000` (what docker keys entries by). */
export function registryKey(entry: string): string {
  return entry.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '').toLowerCase();
}

function decodeAuth(auth: string): { username: string; password: string } | undefined {
  const text = Buffer.from(auth, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  return colon > 0 ? { username: text.slice(0, colon), password: text.slice(colon + 1) } : undefined;
}

export class CredentialHelperError extends Error {
  override name = 'CredentialHelperError';
}

/**
 * `docker-credential-<helper> get`: undefined when the helper has nothing for the server (exit 1,
 * "credentials not found"), an error when the helper cannot be run or answers nonsense.
 */
async function fromHelper(helper: string, host: string, env: NodeJS.ProcessEnv): Promise<Credentials | undefined> {
  const program = `docker-credential-${helper}`;
  return new Promise((resolve, reject) => {
    const child = execFile(program, ['get'], { timeout: 10_000, env }, (err, stdout, stderr) => {
      if ((err as NodeJS.ErrnoException | null)?.code === 'ENOENT') {
        return reject(new CredentialHelperError(`the docker config names the credential helper "${helper}", but ${program} is not on PATH`));
      }
      if (err) {
        if (/not found/i.test(stdout + stderr)) return resolve(undefined);
        return reject(new CredentialHelperError(`${program} get failed: ${(stderr || stdout || err.message).trim().slice(0, 300)}`));
      }
      let parsed: { Username?: string; Secret?: string };
      try {
        parsed = JSON.parse(stdout) as typeof parsed;
      } catch {
        return reject(new CredentialHelperError(`${program} get answered something other than JSON`));
      }
      if (!parsed.Secret) return resolve(undefined);
      if (parsed.Username === IDENTITY_TOKEN_USERNAME) return resolve({ username: undefined, identityToken: parsed.Secret });
      resolve(parsed.Username ? { username: parsed.Username, password: parsed.Secret } : undefined);
    });
    child.stdin?.on('error', () => {}); // a helper that exits before reading stdin is reported by the callback
    child.stdin?.end(host);
  });
}

export async function dockerConfigCredentials(host: string, dir: string, env: NodeJS.ProcessEnv = process.env): Promise<Credentials | undefined> {
  let config: DockerConfig;
  try {
    config = JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8')) as DockerConfig;
  } catch {
    return undefined;
  }
  const key = host.toLowerCase();
  const helper = Object.entries(config.credHelpers ?? {}).find(([k]) => registryKey(k) === key)?.[1];
  if (helper) return fromHelper(helper, host, env);
  const entry = Object.entries(config.auths ?? {}).find(([k]) => registryKey(k) === key)?.[1];
  const decoded = entry?.auth ? decodeAuth(entry.auth) : undefined;
  if (entry?.identitytoken) return { username: decoded?.username ?? entry.username, identityToken: entry.identitytoken };
  if (decoded?.password) return decoded;
  if (entry?.username && entry.password) return { username: entry.username, password: entry.password };
  if (config.credsStore) return fromHelper(config.credsStore, host, env);
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
  return dockerConfigCredentials(host, dir, env);
}
