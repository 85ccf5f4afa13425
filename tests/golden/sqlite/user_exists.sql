-- sqlite: user_exists

-- 1.1
SELECT 1 FROM "app_users" WHERE username = 'v-token-role-abc''"\;--'
