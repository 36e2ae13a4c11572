// The most common operational mistakes, turned from a library's error into one line that names
// the setting and the fix (StartupError). Anything not recognised is returned as undefined and
// reported as it is.
import type { Config } from './config.js';
import { StartupError } from './startup-error.js';

interface ErrorShape {
  code?: string;
  name?: string;
  message?: string;
  errors?: unknown[];
}

const shape = (err: unknown): ErrorShape => (typeof err === 'object' && err !== null ? (err as ErrorShape) : {});

/** host:port/database of a URL, without its credentials. */
function where(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname || 'localhost'}:${u.port || 5432}${u.pathname}`;
  } catch {
    return 'the configured server';
  }
}

/** A connection error's code; pg reports an AggregateError (IPv4 and IPv6) for localhost. */
function codeOf(err: unknown): string | undefined {
  const e = shape(err);
  return e.code ?? e.errors?.map((x) => shape(x).code).find(Boolean);
}

export function describeDatabaseError(err: unknown, config: Pick<Config, 'databaseUrl'>): StartupError | undefined {
  if (!config.databaseUrl) return undefined;
  const at = where(config.databaseUrl);
  const code = codeOf(err);
  const message = shape(err).message ?? '';
  switch (code) {
    case 'ECONNREFUSED':
      return new StartupError(`DATABASE_URL: nothing accepts connections at ${at} (ECONNREFUSED): start PostgreSQL there or correct DATABASE_URL (unset it to use the embedded one)`);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new StartupError(`DATABASE_URL: the host of ${at} does not resolve (${code}): correct DATABASE_URL`);
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return new StartupError(`DATABASE_URL: ${at} cannot be reached (${code}): check DATABASE_URL and the network/firewall`);
    case '28P01':
      return new StartupError(`DATABASE_URL: PostgreSQL at ${at} refused the password (28P01): correct the user or password in DATABASE_URL`);
    case '28000':
      return new StartupError(`DATABASE_URL: PostgreSQL at ${at} refused the login (28000: ${message}): check the user in DATABASE_URL and pg_hba.conf`);
    case '3D000':
      return new StartupError(`DATABASE_URL: the database in ${at} does not exist (3D000): create it (createdb) or correct DATABASE_URL`);
  }
  if (/does not support SSL/i.test(message)) {
    return new StartupError(`DATABASE_URL: PostgreSQL at ${at} does not support SSL: remove sslmode/ssl from DATABASE_URL`);
  }
  return undefined;
}

export function describeStoreError(err: unknown, config: Pick<Config, 'storage'>): StartupError | undefined {
  if (err instanceof StartupError) return err;
  if (config.storage.driver !== 's3') return undefined;
  const e = shape(err);
  if (e.name === 'CredentialsProviderError') {
    return new StartupError('BERTH_STORAGE=s3 but no AWS credentials were found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or give the host an IAM role)');
  }
  // checkBucket's messages already name the setting; only the prefix is added.
  if (/^S3 (bucket|endpoint)/.test(e.message ?? '')) {
    const hint = e.name === 'StorageUnavailableError' ? ': check BERTH_S3_ENDPOINT and that the S3 server runs' : '';
    return new StartupError(`${e.message}${hint}`);
  }
  return undefined;
}

/** listen() failures of BERTH_ADDR or BERTH_METRICS_ADDR. */
export function describeListenError(err: unknown, setting: string, addr: string): StartupError | undefined {
  switch (shape(err).code) {
    case 'EADDRINUSE':
      return new StartupError(`${setting}=${addr}: the address is already in use (another Berth or another server?): stop it or choose another port in ${setting}`);
    case 'EACCES':
      return new StartupError(`${setting}=${addr}: not allowed to listen there (ports below 1024 need privileges): choose a port above 1024 in ${setting}`);
    case 'EADDRNOTAVAIL':
      return new StartupError(`${setting}=${addr}: this host has no such address: use 127.0.0.1, 0.0.0.0 or one of its own addresses in ${setting}`);
  }
  return undefined;
}

/** A TLS file named by BERTH_TLS_CERT/BERTH_TLS_KEY that cannot be read. */
export function describeTlsFileError(err: unknown, setting: string, file: string): StartupError {
  return new StartupError(`${setting}=${file} cannot be read (${shape(err).code ?? shape(err).message}): point ${setting} at a readable PEM file`);
}
