-- oracle: user_exists

-- 1.1
SELECT 1 FROM all_users WHERE username = 'v-token-role-abc''"\;--'
