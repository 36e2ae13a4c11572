-- Token authentication (BERTH_AUTH=token): accounts (people and CI robots), what they may do per
-- repository or name prefix, and the keys tokens are signed with, shared by every replica.

-- One namespace for users and robots, so a login name always means one account.
CREATE TABLE accounts (
  id                 bigserial PRIMARY KEY,
  name               text COLLATE "C" NOT NULL UNIQUE,
  kind               text NOT NULL CHECK (kind IN ('user', 'robot')),
  -- scrypt$<N>$<r>$<p>$<salt base64>$<hash base64>; never the password itself.
  secret_hash        text NOT NULL,
  -- Superuser: every action on every repository, the catalog and the management API.
  admin              boolean NOT NULL DEFAULT false,
  description        text,
  -- Robots may expire; a login after this instant fails.
  expires_at         timestamptz,
  -- Bumped on every password or secret change: refresh tokens carrying an older value stop working.
  credential_version integer NOT NULL DEFAULT 1,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now()
);

-- What an account (or, with account_id NULL, anyone without one) may do on repositories whose
-- name matches `pattern`: an exact name, `prefix/*` (everything below prefix/) or `*`.
CREATE TABLE permissions (
  id         bigserial PRIMARY KEY,
  account_id bigint REFERENCES accounts (id) ON DELETE CASCADE,
  pattern    text COLLATE "C" NOT NULL,
  actions    text[] NOT NULL CHECK (actions <@ ARRAY['pull', 'push', 'delete', 'admin']::text[] AND cardinality(actions) > 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  -- Anonymous may only ever pull: a push always needs an account.
  CHECK (account_id IS NOT NULL OR actions <@ ARRAY['pull']::text[])
);
-- One row per (account, pattern); COALESCE makes anonymous rows unique too on any PostgreSQL version.
CREATE UNIQUE INDEX permissions_account_pattern ON permissions (COALESCE(account_id, 0), pattern);

-- Token signing keys. The active key (retired_at NULL) signs; retired ones stay published in the
-- JWKS and accepted until tokens signed with them have expired. private_pem is NULL for a key
-- given by configuration (BERTH_TOKEN_KEY): only its public half is shared through here.
CREATE TABLE signing_keys (
  kid         text PRIMARY KEY,
  algorithm   text NOT NULL CHECK (algorithm IN ('ES256', 'EdDSA', 'RS256')),
  public_jwk  jsonb NOT NULL,
  private_pem text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  retired_at  timestamptz
);
-- At most one active key: replicas starting together agree on the one that won the insert.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys ((true)) WHERE retired_at IS NULL;
