-- hana: revoke

-- 1.1 (on_error: continue)
ALTER USER "v-token-role-abc'""\;--" DEACTIVATE USER NOW

-- 2.1 (on_error: continue)
DROP USER "v-token-role-abc'""\;--" RESTRICT

-- 3.1
SELECT 1 / 0 AS drop_user_failed FROM SYS.USERS WHERE USER_NAME = 'v-token-role-abc''"\;--'
