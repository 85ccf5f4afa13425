-- postgresql-app-users: create (set bcrypt)

-- 1.1
CREATE TABLE IF NOT EXISTS "public"."app_users" (
  username text PRIMARY KEY,
  password_hash text NOT NULL,
  expires_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
)

-- 2.1
INSERT INTO "public"."app_users" (username, password_hash, expires_at) VALUES ('v-token-role-abc''"\;--', crypt('[password]', gen_salt('bf', 10)), '2030-01-02 03:04:05+0000')
