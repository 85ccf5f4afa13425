-- postgresql-app-users: renew

-- 1.1
UPDATE "public"."app_users" SET expires_at = '2030-01-02 03:04:05+0000' WHERE username = 'v-token-role-abc''"\;--'
