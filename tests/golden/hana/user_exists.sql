-- hana: user_exists

-- 1.1
SELECT 1 FROM SYS.USERS WHERE USER_NAME = 'v-token-role-abc''"\;--'
