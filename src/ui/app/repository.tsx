// Page 2: one repository — its tags with what they point at, who changed them, their referrers,
// the pull command, the quota use, and a comparison of any two references.
import { useState } from 'preact/hooks';
import { api, enc, encName, type Session, type Tag } from './api.js';
import { PushHelp } from './repositories.js';
import { navigate, type Location } from './router.js';
import { artifactLabel, CopyButton, Digest, formatBytes, listParams, listPosition, mediaTypeLabel, PageTitle, Pager, Show, Time, useLoad } from './ui.js';

interface Usage {
  bytes: number;
  manifestBytes: number;
  blobs: number;
  manifests: number;
  tags: number;
  quotas: { repository: string; bytes: number; used: number }[];
}

export const repoBase = (name: string) => `/ui/repositories/${encName(name)}`;

export function RepositoryPage({ name, loc, session }: { name: string; loc: Location; session: Session }) {
  const at = listPosition(loc);
  const [tags] = useLoad(() => api<{ tags: Tag[]; next: string | null }>(`/api/v1/repositories/${encName(name)}/tags?n=100${listParams(at)}`), `${name}|${at.last}|${at.q}`);
  const [usage] = useLoad(() => api<Usage>(`/api/v1/repositories/${encName(name)}/usage`), name);
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const base = repoBase(name);
  return (
    <>
      <nav class="crumbs" aria-label="Breadcrumb">
        <a href="/ui/">Repositories</a> / <span aria-current="page">{name}</span>
      </nav>
      <PageTitle title={name} />
      <section class="cards">
        <div class="card">
          <h2>Pull</h2>
          <Show loaded={tags} what="Loading">
            {(d) => {
              const tag = d.tags.find((t) => t.name === 'latest') ?? d.tags[0];
              const cmd = `docker pull ${session.registry}/${name}${tag ? `:${tag.name}` : ''}`;
              return (
                <p class="command">
                  <code>{cmd}</code> <CopyButton text={cmd} />
                </p>
              );
            }}
          </Show>
        </div>
        <div class="card">
          <h2>Storage</h2>
          <Show loaded={usage} what="Loading usage">
            {(u) => (
              <>
                <p>
                  {formatBytes(u.bytes + u.manifestBytes)} in {u.blobs} blobs and {u.manifests} manifests
                </p>
                {u.quotas.map((quota) => (
                  <div class="quota" key={quota.repository}>
                    <label>
                      Quota <code>{quota.repository}</code>: {formatBytes(quota.used)} of {formatBytes(quota.bytes)}
                      <meter min={0} max={quota.bytes} value={quota.used} high={quota.bytes * 0.9} />
                    </label>
                  </div>
                ))}
              </>
            )}
          </Show>
        </div>
      </section>
      <form
        class="compare"
        onSubmit={(e) => {
          e.preventDefault();
          if (from && to) navigate(`${base}/-/diff?from=${enc(from)}&to=${enc(to)}`);
        }}
      >
        <h2>Compare</h2>
        <label>
          From <input value={from} onInput={(e) => setFrom((e.target as HTMLInputElement).value)} list="tag-names" placeholder="tag, digest or prod@3" required />
        </label>
        <label>
          To <input value={to} onInput={(e) => setTo((e.target as HTMLInputElement).value)} list="tag-names" placeholder="tag, digest or prod@4" required />
        </label>
        <button type="submit">Show diff</button>
      </form>
      <h2>Tags</h2>
      <Show loaded={tags} what="Loading tags">
        {(d) =>
          d.tags.length === 0 ? (
            at.q ? <p class="empty">No tag contains “{at.q}”.</p> : <PushHelp session={session} name={name} />
          ) : (
            <>
              <datalist id="tag-names">
                {d.tags.map((t) => (
                  <option key={t.name} value={t.name} />
                ))}
              </datalist>
              <table class="list tags">
                <caption class="sr-only">Tags of {name}</caption>
                <thead>
                  <tr>
                    <th scope="col">Tag</th>
                    <th scope="col">Digest</th>
                    <th scope="col">Type</th>
                    <th scope="col">Platforms</th>
                    <th scope="col" class="num">Size</th>
                    <th scope="col">Updated</th>
                    <th scope="col">
                      <span class="sr-only">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {d.tags.map((t) => [
                    <tr key={t.name}>
                      <th scope="row">
                        <a href={`${base}/-/image/${enc(t.name)}`}>{t.name}</a>
                        {t.immutable && (
                          <span class="badge" title="BERTH_IMMUTABLE_TAGS: this tag can never move">
                            immutable
                          </span>
                        )}
                      </th>
                      <td>
                        <Digest digest={t.digest} link={`${base}/-/image/${enc(t.digest)}`} />
                      </td>
                      <td>{mediaTypeLabel(t.mediaType)}</td>
                      <td>{t.platforms.join(', ') || <span class="muted">—</span>}</td>
                      <td class="num">{formatBytes(t.imageSize ?? t.manifestSize)}</td>
                      <td>
                        <Time at={t.updatedAt} />
                        {t.updatedBy && <span class="muted"> by {t.updatedBy}</span>}
                      </td>
                      <td class="actions">
                        <a href={`${base}/-/history/${enc(t.name)}`}>History</a>
                        <CopyButton text={`docker pull ${session.registry}/${name}:${t.name}`} label="Copy pull" />
                      </td>
                    </tr>,
                    ...t.referrers.map((r) => (
                      <tr key={`${t.name}-${r.digest}`} class="referrer">
                        <td colSpan={7}>
                          <span class="indent" aria-hidden="true">
                            ↳
                          </span>
                          <span class="badge subtle">{artifactLabel(r.artifactType, r.mediaType)}</span>{' '}
                          <Digest digest={r.digest} link={`${base}/-/image/${enc(r.digest)}`} /> <span class="muted">{r.artifactType ?? r.mediaType}</span>
                        </td>
                      </tr>
                    )),
                  ])}
                </tbody>
              </table>
              <Pager base={base} at={at} next={d.next} />
            </>
          )
        }
      </Show>
    </>
  );
}
