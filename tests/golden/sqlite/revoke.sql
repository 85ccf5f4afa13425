-- sqlite: revoke

-- 1.1
CREATE TABLE IF NOT EXISTS "app_users" (
  username TEXT PRIMARY KEY,
  password_hash TEXT NOT NULL,
  expires_at TEXT
)

-- 2.1
DELETE FROM "app_users" WHERE username = 'v-token-role-abc''"\;--'
