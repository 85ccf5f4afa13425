-- firebird: user_exists

-- 1.1
SELECT 1 FROM SEC$USERS WHERE SEC$USER_NAME = 'v-token-role-abc''"\;--'
