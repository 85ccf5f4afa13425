-- sqlite: create

-- 1.1
CREATE TABLE IF NOT EXISTS "app_users" (
  username TEXT PRIMARY KEY,
  password_hash TEXT NOT NULL,
  expires_at TEXT
)

-- 2.1
INSERT INTO "app_users" (username, password_hash, expires_at) VALUES ('v-token-role-abc''"\;--', 'SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey>', '2030-01-02 03:04:05')
