-- postgresql-app-users: create

-- 1.1
CREATE TABLE IF NOT EXISTS "public"."app_users" (
  username text PRIMARY KEY,
  password_hash text NOT NULL,
  expires_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
)

-- 2.1
INSERT INTO "public"."app_users" (username, password_hash, expires_at) VALUES ('v-token-role-abc''"\;--', 'SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey>', '2030-01-02 03:04:05+0000')
