// Page 5: one image or index — platforms, layers drawn to scale, the build history, labels,
// annotations, referrers and the manifest as pushed.
import { api, enc, encName, type ImageDetails } from './api.js';
import { repoBase } from './repository.js';
import { artifactLabel, Digest, formatBytes, mediaTypeLabel, PageTitle, Show, useLoad } from './ui.js';

function KeyValues({ title, values }: { title: string; values: Record<string, string> }) {
  const entries = Object.entries(values);
  if (entries.length === 0) return null;
  return (
    <>
      <h3>{title}</h3>
      <dl class="kv">
        {entries.map(([k, v]) => [<dt key={`k${k}`}>{k}</dt>, <dd key={`v${k}`}>{v}</dd>])}
      </dl>
    </>
  );
}

/** An entrypoint or command as the config has it (a JSON array), or a word when there is none. */
function Command({ argv }: { argv: string[] | null }) {
  return argv === null || argv.length === 0 ? <span class="muted">(none)</span> : <code>{JSON.stringify(argv)}</code>;
}

export function ImagePage({ name, ref }: { name: string; ref: string }) {
  const [image] = useLoad(() => api<ImageDetails>(`/api/v1/repositories/${encName(name)}/images/${enc(ref)}`), `${name}|${ref}`);
  const base = repoBase(name);
  return (
    <>
      <nav class="crumbs" aria-label="Breadcrumb">
        <a href="/ui/">Repositories</a> / <a href={base}>{name}</a> / <span aria-current="page">{ref.length > 30 ? ref.slice(0, 19) + '…' : ref}</span>
      </nav>
      <Show loaded={image} what="Loading image">
        {(img) => (
          <>
            <PageTitle title={`${name}${ref.startsWith('sha256:') ? '@' : ':'}${ref.startsWith('sha256:') ? ref.slice(0, 19) + '…' : ref}`}>
              {!ref.includes(':') && (
                <a class="button" href={`${base}/-/history/${enc(ref)}`}>
                  History
                </a>
              )}
            </PageTitle>
            <p>
              <Digest digest={img.digest} /> · {mediaTypeLabel(img.mediaType)} · {img.platforms.length} platform{img.platforms.length === 1 ? '' : 's'}
            </p>
            <KeyValues title="Annotations" values={img.annotations} />
            {img.referrers.length > 0 && (
              <>
                <h2>Referrers</h2>
                <ul class="plain">
                  {img.referrers.map((r) => (
                    <li key={r.digest}>
                      <span class="badge subtle">{artifactLabel(r.artifactType, r.mediaType)}</span> <Digest digest={r.digest} link={`${base}/-/image/${enc(r.digest)}`} />{' '}
                      <span class="muted">{r.artifactType ?? r.mediaType}</span>
                    </li>
                  ))}
                </ul>
              </>
            )}
            {img.platforms.map((p) => {
              const biggest = Math.max(1, ...p.layers.map((l) => l.size));
              return (
                <section class="platform" key={p.digest}>
                  <h2>
                    {p.platform} <span class="muted">{formatBytes(p.size)}</span>
                  </h2>
                  {img.platforms.length > 1 && (
                    <p>
                      <Digest digest={p.digest} link={`${base}/-/image/${enc(p.digest)}`} />
                    </p>
                  )}
                  {p.summary && (
                    <dl class="kv">
                      <dt>Entrypoint</dt>
                      <dd>
                        <Command argv={p.summary.entrypoint} />
                      </dd>
                      <dt>Cmd</dt>
                      <dd>
                        <Command argv={p.summary.cmd} />
                      </dd>
                      {p.summary.user && [<dt key="u">User</dt>, <dd key="uv">{p.summary.user}</dd>]}
                      {p.summary.exposedPorts.length > 0 && [<dt key="p">Ports</dt>, <dd key="pv">{p.summary.exposedPorts.join(', ')}</dd>]}
                      {p.summary.created && [
                        <dt key="c">Created</dt>,
                        <dd key="cv">
                          <time dateTime={p.summary.created}>{new Date(p.summary.created).toLocaleString()}</time>
                        </dd>,
                      ]}
                    </dl>
                  )}
                  <h3>Layers</h3>
                  <ol class="layers">
                    {p.layers.map((l) => (
                      <li key={l.digest}>
                        <code title={l.digest}>{l.digest.replace(/^sha256:/, '').slice(0, 12)}</code>
                        <span class="bar" aria-hidden="true">
                          <span style={{ width: `${Math.max(1, (l.size / biggest) * 100)}%` }} />
                        </span>
                        <span class="num">{formatBytes(l.size)}</span>
                      </li>
                    ))}
                  </ol>
                  {p.history.length > 0 && (
                    <>
                      <h3>Build history</h3>
                      <ol class="build">
                        {p.history.map((h, i) => (
                          <li key={i} class={h.emptyLayer ? 'empty-layer' : ''}>
                            <code>{h.createdBy ?? h.comment ?? '(no command)'}</code>
                          </li>
                        ))}
                      </ol>
                    </>
                  )}
                  {p.summary && <KeyValues title="Labels" values={p.summary.labels} />}
                  <KeyValues title="Manifest annotations" values={img.platforms.length > 1 ? p.annotations : {}} />
                </section>
              );
            })}
            <details class="raw">
              <summary>Manifest JSON</summary>
              <pre tabIndex={0}>
                <code>{JSON.stringify(img.manifest, null, 2)}</code>
              </pre>
            </details>
          </>
        )}
      </Show>
    </>
  );
}
