// Small pieces every page uses: sizes, times, digests, copy buttons, loading and error states.
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, enc } from './api.js';
import type { Location } from './router.js';

export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '—';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function relativeTime(iso: string): string {
  const s = (Date.now() - new Date(iso).getTime()) / 1000;
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
  const steps: [number, Intl.RelativeTimeFormatUnit][] = [
    [60, 'second'],
    [3600, 'minute'],
    [86400, 'hour'],
    [86400 * 30, 'day'],
    [86400 * 365, 'month'],
    [Infinity, 'year'],
  ];
  const div = [1, 60, 3600, 86400, 86400 * 30, 86400 * 365];
  for (let i = 0; i < steps.length; i++) {
    if (Math.abs(s) < steps[i]![0]) return rtf.format(-Math.round(s / div[i]!), steps[i]![1]);
  }
  return iso;
}

/** Relative time; the exact local time on hover and for screen readers. */
export function Time({ at }: { at: string | null | undefined }) {
  if (!at) return <span class="muted">—</span>;
  const exact = new Date(at).toLocaleString();
  return (
    <time dateTime={at} title={exact}>
      {relativeTime(at)}
    </time>
  );
}

export const shortDigest = (d: string) => d.replace(/^sha256:/, '').slice(0, 12);

export function CopyButton({ text, label = 'Copy' }: { text: string; label?: string }) {
  const [done, setDone] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // Clipboard refused (plain http on another host): select a hidden field instead.
      const area = document.createElement('textarea');
      area.value = text;
      document.body.append(area);
      area.select();
      document.execCommand('copy');
      area.remove();
    }
    setDone(true);
    setTimeout(() => setDone(false), 1500);
  };
  return (
    <button type="button" class="copy" onClick={copy} aria-label={`${label}: ${text}`}>
      {done ? 'Copied' : label}
    </button>
  );
}

export function Digest({ digest, link }: { digest: string | null; link?: string }) {
  if (!digest) return <span class="muted">(none)</span>;
  const short = <code title={digest}>{shortDigest(digest)}</code>;
  return (
    <span class="digest">
      {link ? <a href={link}>{short}</a> : short}
      <CopyButton text={digest} label="Copy" />
    </span>
  );
}

export function ErrorBox({ error, children }: { error: unknown; children?: ComponentChildren }) {
  const e = error instanceof ApiError ? error : new ApiError(0, 'UNKNOWN', String((error as Error)?.message ?? error));
  const words =
    e.code === 'UNAUTHORIZED'
      ? 'You need to sign in to see this.'
      : e.code === 'DENIED'
        ? 'Your account is not allowed to do this.'
        : e.code === 'NAME_UNKNOWN'
          ? 'There is no such repository.'
          : e.code === 'TAG_UNKNOWN'
            ? 'There is no such tag.'
            : null;
  return (
    <div class="error" role="alert">
      <p>
        <strong>{words ?? e.message}</strong>
        {words && <> {e.message}</>}
      </p>
      <p class="code">
        <code>{e.code}</code>
        {e.status ? ` · HTTP ${e.status}` : ''}
      </p>
      {children}
    </div>
  );
}

/** A spinner that appears only when loading takes longer than a blink. */
export function Loading({ what = 'Loading' }: { what?: string }) {
  const [show, setShow] = useState(false);
  useEffect(() => {
    const t = setTimeout(() => setShow(true), 150);
    return () => clearTimeout(t);
  }, []);
  return (
    <div class="loading" role="status" aria-live="polite">
      {show && (
        <>
          <span class="spinner" aria-hidden="true" /> {what}…
        </>
      )}
    </div>
  );
}

export type Loaded<T> = { state: 'loading' } | { state: 'error'; error: unknown } | { state: 'ok'; data: T };

/** Loads with `load` whenever `key` changes; `reload` loads again. */
export function useLoad<T>(load: () => Promise<T>, key: string): [Loaded<T>, () => void] {
  const [result, setResult] = useState<Loaded<T>>({ state: 'loading' });
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    setResult({ state: 'loading' });
    load().then(
      (data) => live && setResult({ state: 'ok', data }),
      (error) => live && setResult({ state: 'error', error }),
    );
    return () => {
      live = false;
    };
  }, [key, n]);
  return [result, () => setN((x) => x + 1)];
}

export function Show<T>({ loaded, what, children }: { loaded: Loaded<T>; what?: string; children: (data: T) => ComponentChildren }) {
  if (loaded.state === 'loading') return <Loading what={what} />;
  if (loaded.state === 'error') return <ErrorBox error={loaded.error} />;
  return <>{children(loaded.data)}</>;
}

export function mediaTypeLabel(mt: string): string {
  if (mt.includes('image.index') || mt.includes('manifest.list')) return 'Index';
  if (mt.includes('docker.distribution.manifest.v2')) return 'Docker image';
  if (mt.includes('oci.image.manifest')) return 'OCI image';
  return mt;
}

export function artifactLabel(type: string | null, mediaType: string): string {
  const t = type ?? mediaType;
  if (/signature|cosign|notary/i.test(t)) return 'Signature';
  if (/spdx|cyclonedx|sbom/i.test(t)) return 'SBOM';
  if (/in-toto|attestation|provenance/i.test(t)) return 'Attestation';
  return t;
}

export function PageTitle({ title, children }: { title: string; children?: ComponentChildren }) {
  useEffect(() => {
    document.title = `${title} · Berth`;
  }, [title]);
  return (
    <div class="page-title">
      <h1>{title}</h1>
      {children}
    </div>
  );
}

/** Where a server-paged list stands, from the page's URL: the search, and the last name of the previous page. */
export interface ListPosition {
  q: string;
  last: string;
}

export const listPosition = (loc: Location): ListPosition => ({ q: loc.query.get('q') ?? '', last: loc.query.get('last') ?? '' });

/** `&q=…&last=…` for an /api/v1 listing or a page's URL, empty parts left out. */
export const listParams = ({ q, last }: ListPosition): string => `${q ? `&q=${enc(q)}` : ''}${last ? `&last=${enc(last)}` : ''}`;

/** First-page and next-page links of a server-paged list at `base`; the search is kept. */
export function Pager({ base, at, next }: { base: string; at: ListPosition; next: string | null }) {
  if (!at.last && !next) return null;
  const href = (last: string) => {
    const params = listParams({ q: at.q, last }).slice(1);
    return params ? `${base}?${params}` : base;
  };
  return (
    <nav class="pager" aria-label="Pages">
      {at.last && (
        <a href={href('')} class="button">
          First page
        </a>
      )}
      {next && (
        <a href={href(next)} class="button">
          Next page →
        </a>
      )}
    </nav>
  );
}
