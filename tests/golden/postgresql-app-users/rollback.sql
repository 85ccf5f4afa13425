-- postgresql-app-users: rollback

-- 1.1
DELETE FROM "public"."app_users" WHERE username = 'v-token-role-abc''"\;--'
