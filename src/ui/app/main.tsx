// The UI's shell: header, the open-registry banner, and the page the URL names.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { AdminPage } from './admin.js';
import { api, ApiError, SESSION_ENDED_EVENT, type Session } from './api.js';
import { DiffPage } from './diff.js';
import { HistoryPage } from './history.js';
import { ImagePage } from './image.js';
import { LoginPage } from './login.js';
import { RepositoriesPage } from './repositories.js';
import { RepositoryPage } from './repository.js';
import { interceptLinks, navigate, useLocation, type Location } from './router.js';
import { ErrorBox, Loading, PageTitle } from './ui.js';
import './styles.css';

function decodePath(p: string): string {
  return p.split('/').map(decodeURIComponent).join('/');
}

function Page({ loc, session, setSession }: { loc: Location; session: Session; setSession: (s: Session) => void }) {
  const path = loc.path;
  if (path === '/ui/' || path === '/ui') return <RepositoriesPage loc={loc} session={session} />;
  if (path === '/ui/login') return <LoginPage loc={loc} onSignedIn={setSession} />;
  if (path === '/ui/admin') {
    if (session.auth === 'none') return <AdminPage accounts={false} />;
    return session.user?.admin ? <AdminPage accounts me={session.user.name} /> : <ErrorBox error={{ message: 'Administration is for administrators: sign in as one.' }} />;
  }
  const repo = /^\/ui\/repositories\/(.+?)(?:\/-\/(history|diff|image)(?:\/([^/]+))?)?\/?$/.exec(path);
  if (repo) {
    const name = decodePath(repo[1]!);
    const arg = repo[3] === undefined ? '' : decodeURIComponent(repo[3]);
    if (repo[2] === 'history') return <HistoryPage name={name} tag={arg} session={session} />;
    if (repo[2] === 'diff') return <DiffPage name={name} loc={loc} />;
    if (repo[2] === 'image') return <ImagePage name={name} ref={arg} />;
    return <RepositoryPage name={name} loc={loc} session={session} />;
  }
  return (
    <>
      <PageTitle title="Not found" />
      <p>
        There is no page here. <a href="/ui/">Repositories</a>
      </p>
    </>
  );
}

function App() {
  const loc = useLocation();
  const [session, setSession] = useState<Session | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    // A session that ended (expired, signed out elsewhere, password changed): the server has cleared
    // the cookie; show the sign-in page, coming back here afterwards.
    const ended = () => {
      const here = window.location.pathname + window.location.search;
      api<Session>('/api/v1/session').then(setSession, setError);
      if (window.location.pathname !== '/ui/login') navigate(`/ui/login?next=${encodeURIComponent(here)}&ended=1`);
    };
    window.addEventListener(SESSION_ENDED_EVENT, ended);
    api<Session>('/api/v1/session').then(setSession, (err) => {
      if (!(err instanceof ApiError && err.status === 401)) setError(err);
    });
    return () => window.removeEventListener(SESSION_ENDED_EVENT, ended);
  }, []);
  const signOut = async () => {
    await api('/api/v1/session', { method: 'DELETE' });
    setSession(await api<Session>('/api/v1/session'));
    navigate('/ui/');
  };
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href="/ui/">
          <span class="logo" aria-hidden="true" />
          Berth
        </a>
        <nav aria-label="Main">
          <a href="/ui/" aria-current={loc.path === '/ui/' ? 'page' : undefined}>
            Repositories
          </a>
          {(session?.user?.admin || session?.auth === 'none') && (
            <a href="/ui/admin" aria-current={loc.path === '/ui/admin' ? 'page' : undefined}>
              Administration
            </a>
          )}
        </nav>
        <div class="who">
          {session?.auth === 'token' &&
            (session.user ? (
              <>
                <span>
                  Signed in as <strong>{session.user.name}</strong>
                </span>{' '}
                <button type="button" onClick={signOut}>
                  Sign out
                </button>
              </>
            ) : (
              loc.path !== '/ui/login' && (
                <a class="button" href={`/ui/login?next=${encodeURIComponent(loc.path + window.location.search)}`}>
                  Sign in
                </a>
              )
            ))}
        </div>
      </header>
      {session?.auth === 'none' && (
        <div class="banner" role="note">
          This registry runs with <code>BERTH_AUTH=none</code>: anyone who can reach it can push, overwrite and roll back images.
        </div>
      )}
      <main id="main">
        {error !== null ? <ErrorBox error={error} /> : session === null ? <Loading /> : <Page loc={loc} session={session} setSession={setSession} />}
      </main>
    </>
  );
}

interceptLinks();
render(<App />, document.getElementById('app')!);
