-- The web UI's state, shared by every replica.

-- Browser sessions (the UI's sign-in). The cookie holds a random secret; only its sha256 is kept
-- here, so a copy of this table signs nobody in. A session ends at sign-out (row deleted), when
-- idle too long (last_seen_at), at its absolute expiry (expires_at), when the account's password
-- changes (credential_version no longer the account's) and with the account (cascade).
CREATE TABLE browser_sessions (
  id                 bytea PRIMARY KEY,
  account_id         bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  credential_version integer NOT NULL,
  created_at         timestamptz NOT NULL DEFAULT now(),
  last_seen_at       timestamptz NOT NULL DEFAULT now(),
  expires_at         timestamptz NOT NULL
);
CREATE INDEX browser_sessions_account ON browser_sessions (account_id);
CREATE INDEX browser_sessions_last_seen ON browser_sessions (last_seen_at);

-- The reports of recent garbage collections (background and on demand, any replica), newest by id.
CREATE TABLE gc_reports (
  id          bigserial PRIMARY KEY,
  finished_at timestamptz NOT NULL DEFAULT now(),
  report      jsonb NOT NULL
);

-- Recent webhook delivery attempts by every replica, per receiver (its URL without credentials).
CREATE TABLE webhook_deliveries (
  id       bigserial PRIMARY KEY,
  receiver text NOT NULL,
  at       timestamptz NOT NULL DEFAULT now(),
  outcome  text NOT NULL CHECK (outcome IN ('delivered', 'retry', 'failed')),
  attempt  integer NOT NULL,
  actions  text[] NOT NULL,
  problem  text
);
CREATE INDEX webhook_deliveries_receiver ON webhook_deliveries (receiver, id DESC);
