-- sqlite: rollback

-- 1.1
DELETE FROM "app_users" WHERE username = 'v-token-role-abc''"\;--'
