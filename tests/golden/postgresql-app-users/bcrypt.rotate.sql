-- postgresql-app-users: rotate (set bcrypt)

-- 1.1
UPDATE "public"."app_users" SET password_hash = crypt('[password]', gen_salt('bf', 10)) WHERE username = 'v-token-role-abc''"\;--'
