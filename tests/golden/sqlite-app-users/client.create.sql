-- sqlite-app-users: create (set client)

-- 1.1
CREATE TABLE IF NOT EXISTS "api_clients" (
  username TEXT PRIMARY KEY,
  password_hash TEXT NOT NULL,
  expires_at TEXT,
  scope TEXT NOT NULL DEFAULT 'read'
)

-- 2.1
INSERT INTO "api_clients" (username, password_hash, expires_at, scope) VALUES ('v-token-role-abc''"\;--', 'SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey>', '2030-01-02 03:04:05', 'read')
