// Page 6 (administrators): users, robots (the secret shown once), permissions per repository
// pattern, and storage use per repository.
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { api } from './api.js';
import { CopyButton, ErrorBox, formatBytes, Loading, PageTitle, Show, Time, useLoad } from './ui.js';

interface Account {
  name: string;
  kind: string;
  admin: boolean;
  description: string | null;
  expiresAt: string | null;
  createdAt: string;
}
interface Permission {
  id: number;
  account: string | null;
  repository: string;
  actions: string[];
}

/** A form's fields, and what submitting it does: `action` with the values; they are cleared when it
 *  succeeds, and its refusal is kept in `error` (where the section's other actions put theirs too). */
function useForm<T extends Record<string, string>>(initial: T, action: (values: T) => Promise<void>) {
  const [values, setValues] = useState(initial);
  const [error, setError] = useState<unknown>(null);
  const bind = (k: keyof T) => ({
    value: values[k],
    onInput: (e: Event) => setValues({ ...values, [k]: (e.target as HTMLInputElement).value }),
  });
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      await action(values);
      setValues(initial);
    } catch (err) {
      setError(err);
    }
  };
  return { values, bind, submit, error, setError };
}

/** The form of an administration section: its fields in a row, one button, the error in words below. */
function InlineForm({ form, button, children }: { form: { submit: (e: Event) => void; error: unknown }; button: string; children: ComponentChildren }) {
  return (
    <>
      <form class="inline" onSubmit={form.submit}>
        {children}
        <button type="submit">{button}</button>
      </form>
      {form.error !== null && <ErrorBox error={form.error} />}
    </>
  );
}

/** Deletes an account after the administrator confirms; reloads the list. */
async function removeAccount(kind: 'users' | 'robots', name: string, reload: () => void, setError: (e: unknown) => void) {
  if (!window.confirm(`Delete ${kind === 'users' ? 'user' : 'robot'} ${name}? Its tokens stop working at once.`)) return;
  try {
    await api(`/api/v1/${kind}/${encodeURIComponent(name)}`, { method: 'DELETE' });
    reload();
  } catch (err) {
    setError(err);
  }
}

function Users({ me }: { me: string | undefined }) {
  const [users, reload] = useLoad(() => api<{ users: Account[] }>('/api/v1/users'), 'users');
  const form = useForm({ name: '', password: '' }, async ({ name, password }) => {
    await api('/api/v1/users', { method: 'POST', body: { name, password } });
    reload();
  });
  return (
    <section>
      <h2>Users</h2>
      <Show loaded={users}>
        {(d) => (
          <ul class="plain">
            {d.users.map((u) => (
              <li key={u.name}>
                <strong>{u.name}</strong> {u.admin && <span class="badge">admin</span>} <span class="muted">since <Time at={u.createdAt} /></span>{' '}
                {u.name !== me && (
                  <button type="button" class="small" onClick={() => removeAccount('users', u.name, reload, form.setError)} aria-label={`Delete user ${u.name}`}>
                    Delete
                  </button>
                )}
              </li>
            ))}
          </ul>
        )}
      </Show>
      <InlineForm form={form} button="Add user">
        <label>
          Name <input {...form.bind('name')} required autoComplete="off" />
        </label>
        <label>
          Password <input type="password" {...form.bind('password')} required minLength={8} autoComplete="new-password" />
        </label>
      </InlineForm>
    </section>
  );
}

function Robots() {
  const [robots, reload] = useLoad(() => api<{ robots: Account[] }>('/api/v1/robots'), 'robots');
  const [secret, setSecret] = useState<{ name: string; secret: string } | null>(null);
  const form = useForm({ name: '', repository: '', expiresIn: '90d' }, async ({ name, repository, expiresIn }) => {
    const r = await api<{ name: string; secret: string }>('/api/v1/robots', {
      method: 'POST',
      body: {
        name,
        expiresIn: expiresIn || undefined,
        permissions: repository ? [{ repository, actions: ['pull', 'push'] }] : undefined,
      },
    });
    setSecret({ name: r.name, secret: r.secret });
    reload();
  });
  return (
    <section>
      <h2>Robots</h2>
      {secret && (
        <div class="notice success" role="status">
          <p>
            Robot <strong>{secret.name}</strong> created. Its secret is shown only this once:
          </p>
          <p class="command">
            <code class="secret">{secret.secret}</code> <CopyButton text={secret.secret} label="Copy secret" />
          </p>
        </div>
      )}
      <Show loaded={robots}>
        {(d) =>
          d.robots.length === 0 ? (
            <p class="muted">No robots yet: a robot is an account for CI with a secret instead of a password.</p>
          ) : (
            <ul class="plain">
              {d.robots.map((r) => (
                <li key={r.name}>
                  <strong>{r.name}</strong> {r.description && <span class="muted">{r.description}</span>}{' '}
                  <span class="muted">{r.expiresAt ? <>expires <Time at={r.expiresAt} /></> : 'never expires'}</span>{' '}
                  <button type="button" class="small" onClick={() => removeAccount('robots', r.name, reload, form.setError)} aria-label={`Delete robot ${r.name}`}>
                    Delete
                  </button>
                </li>
              ))}
            </ul>
          )
        }
      </Show>
      <InlineForm form={form} button="Create robot">
        <label>
          Name <input {...form.bind('name')} required autoComplete="off" placeholder="ci-deploy" />
        </label>
        <label>
          Push to <input {...form.bind('repository')} placeholder="team/*" />
        </label>
        <label>
          Expires in <input {...form.bind('expiresIn')} placeholder="90d" size={6} />
        </label>
      </InlineForm>
    </section>
  );
}

function Permissions() {
  const [perms, reload] = useLoad(() => api<{ permissions: Permission[] }>('/api/v1/permissions'), 'perms');
  const form = useForm({ account: '', repository: '', actions: 'pull' }, async ({ account, repository, actions }) => {
    await api('/api/v1/permissions', {
      method: 'PUT',
      body: { account: account || null, repository, actions: actions.split(',').map((a) => a.trim()).filter(Boolean) },
    });
    reload();
  });
  const revoke = async (id: number) => {
    try {
      await api(`/api/v1/permissions/${id}`, { method: 'DELETE' });
      reload();
    } catch (err) {
      form.setError(err);
    }
  };
  return (
    <section>
      <h2>Permissions</h2>
      <Show loaded={perms}>
        {(d) => (
          <table class="list">
            <caption class="sr-only">Permissions</caption>
            <thead>
              <tr>
                <th scope="col">Account</th>
                <th scope="col">Repositories</th>
                <th scope="col">Actions</th>
                <th scope="col">
                  <span class="sr-only">Revoke</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {d.permissions.map((p) => (
                <tr key={p.id}>
                  <td>{p.account ?? <em>anonymous</em>}</td>
                  <td>
                    <code>{p.repository}</code>
                  </td>
                  <td>{p.actions.join(', ')}</td>
                  <td>
                    <button type="button" onClick={() => revoke(p.id)} aria-label={`Revoke ${p.actions.join(', ')} on ${p.repository} for ${p.account ?? 'anonymous'}`}>
                      Revoke
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Show>
      <InlineForm form={form} button="Grant">
        <label>
          Account <input {...form.bind('account')} placeholder="(empty: anonymous)" />
        </label>
        <label>
          Repositories <input {...form.bind('repository')} required placeholder="team/* or *" />
        </label>
        <label>
          Actions <input {...form.bind('actions')} required placeholder="pull,push" />
        </label>
      </InlineForm>
    </section>
  );
}

function UsageChart() {
  // Largest first from the server: with thousands of repositories, the big ones are rarely on the first page by name.
  const [repos] = useLoad(() => api<{ repositories: { name: string; size: number }[] }>('/api/v1/storage?n=15'), 'usage');
  return (
    <section>
      <h2>Storage by repository</h2>
      <Show loaded={repos} what="Loading usage">
        {(d) => {
          const top = d.repositories.filter((r) => r.size > 0);
          const max = Math.max(1, ...top.map((r) => r.size));
          if (top.length === 0) return <p class="muted">No repository stores anything yet.</p>;
          return (
            <ol class="chart" aria-label="Largest repositories">
              {top.map((r) => (
                <li key={r.name}>
                  <span class="chart-label">{r.name}</span>
                  <span class="bar" aria-hidden="true">
                    <span style={{ width: `${Math.max(0.5, (r.size / max) * 100)}%` }} />
                  </span>
                  <span class="num">{formatBytes(r.size)}</span>
                </li>
              ))}
            </ol>
          );
        }}
      </Show>
    </section>
  );
}

function QuotaList() {
  const [quotas] = useLoad(() => api<{ quotas: { repository: string; bytes: number; used: number }[] }>('/api/v1/quotas'), 'quotas');
  return (
    <section>
      <h2>Quotas</h2>
      <Show loaded={quotas}>
        {(d) =>
          d.quotas.length === 0 ? (
            <p class="muted">
              No quotas: set <code>BERTH_QUOTAS</code> to give repositories an allowance.
            </p>
          ) : (
            <ul class="plain">
              {d.quotas.map((q) => (
                <li key={q.repository} class="quota">
                  <label>
                    <code>{q.repository}</code>: {formatBytes(q.used)} of {formatBytes(q.bytes)} ({Math.round((q.used / q.bytes) * 100)} %)
                    <meter min={0} max={q.bytes} value={q.used} high={q.bytes * 0.9} />
                  </label>
                </li>
              ))}
            </ul>
          )
        }
      </Show>
    </section>
  );
}

interface GcReport {
  dryRun: boolean;
  startedAt: string;
  durationMs: number;
  uploadsAborted: number;
  manifestsDeleted: number;
  manifestBytes: number;
  blobsDeleted: number;
  blobBytes: number;
  removedManifests: string[];
  removedBlobs: string[];
}

function GarbageCollection() {
  const [status, reload] = useLoad(() => api<{ available: boolean; last: GcReport | null }>('/api/v1/gc'), 'gc');
  const [busy, setBusy] = useState<'dry' | 'run' | null>(null);
  const [error, setError] = useState<unknown>(null);
  const start = async (dryRun: boolean) => {
    setBusy(dryRun ? 'dry' : 'run');
    setError(null);
    try {
      await api('/api/v1/gc', { method: 'POST', body: { dryRun } });
      reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(null);
    }
  };
  return (
    <section>
      <h2>Garbage collection</h2>
      <Show loaded={status} what="Loading the last report">
        {(s) =>
          s.last ? (
            <div class="gc-report">
              <p>
                Last {s.last.dryRun ? <strong>dry run</strong> : 'run'} <Time at={s.last.startedAt} />, {(s.last.durationMs / 1000).toFixed(1)} s:{' '}
                {s.last.dryRun ? 'would remove' : 'removed'} {s.last.blobsDeleted} blobs ({formatBytes(s.last.blobBytes)}), {s.last.manifestsDeleted} manifests (
                {formatBytes(s.last.manifestBytes)}) and {s.last.uploadsAborted} abandoned uploads.
              </p>
              {s.last.removedManifests.length > 0 && (
                <details>
                  <summary>Manifests</summary>
                  <ul class="plain">
                    {s.last.removedManifests.map((m) => (
                      <li key={m}>
                        <code>{m}</code>
                      </li>
                    ))}
                  </ul>
                </details>
              )}
            </div>
          ) : (
            <p class="muted">No collection has run yet.</p>
          )
        }
      </Show>
      <div class="buttons start">
        <button type="button" onClick={() => start(true)} disabled={busy !== null}>
          {busy === 'dry' ? 'Looking…' : 'Dry run'}
        </button>
        <button type="button" class="danger" onClick={() => start(false)} disabled={busy !== null}>
          {busy === 'run' ? 'Collecting…' : 'Collect now'}
        </button>
      </div>
      {busy && <Loading what={busy === 'dry' ? 'Finding what a collection would remove' : 'Collecting garbage'} />}
      {error !== null && <ErrorBox error={error} />}
    </section>
  );
}

interface Webhook {
  url: string;
  events: string[];
  signed: boolean;
  queued: number;
  recent: { at: string; outcome: string; attempt: number; actions: string[]; problem: string | null }[];
}

function Webhooks() {
  const [hooks] = useLoad(() => api<{ webhooks: Webhook[] }>('/api/v1/webhooks'), 'hooks');
  return (
    <section>
      <h2>Webhooks</h2>
      <Show loaded={hooks}>
        {(d) =>
          d.webhooks.length === 0 ? (
            <p class="muted">
              No receivers: set <code>BERTH_WEBHOOKS</code> to be told about pushes, deletes, tag moves and rollbacks.
            </p>
          ) : (
            d.webhooks.map((w) => (
              <div key={w.url} class="webhook">
                <h3>
                  <code>{w.url}</code> {w.signed && <span class="badge subtle">signed</span>}
                </h3>
                <p class="muted">
                  {w.events.join(', ')} · {w.queued} queued on this replica
                </p>
                {w.recent.length === 0 ? (
                  <p class="muted">No deliveries yet.</p>
                ) : (
                  <table class="list">
                    <caption class="sr-only">Recent deliveries to {w.url}</caption>
                    <thead>
                      <tr>
                        <th scope="col">When</th>
                        <th scope="col">Events</th>
                        <th scope="col">Outcome</th>
                      </tr>
                    </thead>
                    <tbody>
                      {w.recent.map((r, i) => (
                        <tr key={i}>
                          <td>
                            <Time at={r.at} />
                          </td>
                          <td>{r.actions.join(', ')}</td>
                          <td>
                            <span class={`badge subtle outcome-${r.outcome}`}>{r.outcome}</span> {r.attempt > 1 && <span class="muted">attempt {r.attempt}</span>}{' '}
                            {r.problem && <span class="muted">{r.problem}</span>}
                          </td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                )}
              </div>
            ))
          )
        }
      </Show>
    </section>
  );
}

export function AdminPage({ accounts, me }: { accounts: boolean; me?: string | undefined }) {
  return (
    <>
      <PageTitle title="Administration" />
      <div class="admin-grid">
        {accounts && <Users me={me} />}
        {accounts && <Robots />}
        {accounts && <Permissions />}
        <UsageChart />
        <QuotaList />
        <GarbageCollection />
        <Webhooks />
      </div>
    </>
  );
}
