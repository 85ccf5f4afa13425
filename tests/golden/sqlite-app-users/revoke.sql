-- sqlite-app-users: revoke

-- 1.1
CREATE TABLE IF NOT EXISTS "api_clients" (
  username TEXT PRIMARY KEY,
  password_hash TEXT NOT NULL,
  expires_at TEXT,
  scope TEXT NOT NULL DEFAULT 'read'
)

-- 2.1
DELETE FROM "api_clients" WHERE username = 'v-token-role-abc''"\;--'
