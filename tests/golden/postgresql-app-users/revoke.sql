-- postgresql-app-users: revoke

-- 1.1
CREATE TABLE IF NOT EXISTS "public"."app_users" (
  username text PRIMARY KEY,
  password_hash text NOT NULL,
  expires_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
)

-- 2.1
DELETE FROM "public"."app_users" WHERE username = 'v-token-role-abc''"\;--'
