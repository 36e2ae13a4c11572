// Page 1: every repository this visitor may see, searched by substring and paged on the server.
import { useEffect, useState } from 'preact/hooks';
import { api, enc, encName, type Repository, type Session } from './api.js';
import { navigate, type Location } from './router.js';
import { formatBytes, listParams, listPosition, PageTitle, Pager, Show, Time, useLoad } from './ui.js';

export const PAGE = 50;

export function PushHelp({ session, name = 'team/app' }: { session: Session; name?: string }) {
  const host = session.registry;
  const lines = [
    ...(session.auth === 'token' ? [`docker login ${host}`] : []),
    `docker tag my-image ${host}/${name}:1.0`,
    `docker push ${host}/${name}:1.0`,
  ];
  return (
    <div class="empty">
      <p>Push your first image:</p>
      <pre>
        <code>{lines.join('\n')}</code>
      </pre>
    </div>
  );
}

export function RepositoriesPage({ loc, session }: { loc: Location; session: Session }) {
  const at = listPosition(loc);
  const { q, last } = at;
  const [text, setText] = useState(q);
  useEffect(() => setText(q), [q]);
  const [page] = useLoad(
    () => api<{ repositories: Repository[]; next: string | null }>(`/api/v1/repositories?n=${PAGE}${listParams(at)}`),
    `${q}|${last}`,
  );
  // Searching replaces the URL as one types, so back leaves the page instead of stepping through letters.
  useEffect(() => {
    if (text === q) return;
    const t = setTimeout(() => navigate(`/ui/${text ? `?q=${enc(text)}` : ''}`, true), 250);
    return () => clearTimeout(t);
  }, [text]);
  return (
    <>
      <PageTitle title="Repositories" />
      <form class="search" role="search" onSubmit={(e) => (e.preventDefault(), navigate(`/ui/${text ? `?q=${enc(text)}` : ''}`))}>
        <label for="repo-search">Search repositories</label>
        <input id="repo-search" type="search" value={text} placeholder="name contains…" onInput={(e) => setText((e.target as HTMLInputElement).value)} autoComplete="off" />
      </form>
      <Show loaded={page} what="Loading repositories">
        {(data) =>
          data.repositories.length === 0 ? (
            q ? (
              <p class="empty">No repository name contains “{q}”.</p>
            ) : (
              <PushHelp session={session} />
            )
          ) : (
            <>
              <table class="list">
                <caption class="sr-only">Repositories{q ? ` whose name contains “${q}”` : ''}</caption>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col" class="num">Tags</th>
                    <th scope="col" class="num">Stored</th>
                    <th scope="col">Last change</th>
                  </tr>
                </thead>
                <tbody>
                  {data.repositories.map((r) => (
                    <tr key={r.name}>
                      <td>
                        <a href={`/ui/repositories/${encName(r.name)}`}>{r.name}</a>
                      </td>
                      <td class="num">{r.tagCount}</td>
                      <td class="num">{formatBytes(r.size)}</td>
                      <td>
                        <Time at={r.updatedAt} />
                        {r.updatedBy && <span class="muted"> by {r.updatedBy}</span>}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <Pager base="/ui/" at={at} next={data.next} />
            </>
          )
        }
      </Show>
    </>
  );
}
