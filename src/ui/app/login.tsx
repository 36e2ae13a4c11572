// Sign-in: the same accounts, lockout and audit as `docker login`.
import { useState } from 'preact/hooks';
import { api, type Session } from './api.js';
import { navigate, type Location } from './router.js';
import { ErrorBox, PageTitle } from './ui.js';

export function LoginPage({ loc, onSignedIn }: { loc: Location; onSignedIn: (s: Session) => void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const s = await api<Session>('/api/v1/session', { method: 'POST', body: { username, password } });
      onSignedIn(s);
      const next = loc.query.get('next');
      navigate(next && next.startsWith('/ui/') ? next : '/ui/');
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="login">
      <PageTitle title="Sign in" />
      {loc.query.get('ended') === '1' && (
        <p class="notice" role="status">
          Your session has ended. Sign in again to carry on.
        </p>
      )}
      <form onSubmit={submit}>
        <label for="login-user">Username</label>
        <input id="login-user" value={username} onInput={(e) => setUsername((e.target as HTMLInputElement).value)} autoComplete="username" required />
        <label for="login-password">Password</label>
        <input id="login-password" type="password" value={password} onInput={(e) => setPassword((e.target as HTMLInputElement).value)} autoComplete="current-password" required />
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        {error !== null && <ErrorBox error={error} />}
      </form>
    </div>
  );
}
