-- oracle: revoke

-- 1.1 (on_error: continue)
ALTER USER "v-token-role-abc'""\;--" ACCOUNT LOCK

-- 2.1 (on_error: continue)
DROP USER "v-token-role-abc'""\;--" CASCADE

-- 3.1
SELECT 1 / 0 AS drop_user_failed FROM all_users WHERE username = 'v-token-role-abc''"\;--'
