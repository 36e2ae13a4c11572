-- Failed-login counters live in each replica's memory (src/auth/login-limiter.ts). An administrator
-- lifting a lockout (`berth user unlock`, POST /api/v1/login-lockouts/clear) writes a row here;
-- a replica that is refusing an account or address reads this table (only then: the path of a good
-- login never touches it) and forgets counters that began before the clearance. One row per key,
-- `account:<name>` or `address:<ip>`, holding the latest clearance.
CREATE TABLE login_clearances (
  key text PRIMARY KEY,
  cleared_at timestamptz NOT NULL DEFAULT now()
);
