-- cockroachdb: revoke

-- 1.1 (transaction: false, on_error: continue)
CANCEL SESSIONS IF EXISTS (SELECT session_id FROM crdb_internal.cluster_sessions WHERE user_name = 'v-token-role-abc''"\;--')

-- 2.1 (transaction: false, on_error: continue)
REASSIGN OWNED BY "v-token-role-abc'""\;--" TO current_user

-- 3.1 (transaction: false, on_error: continue)
DROP OWNED BY "v-token-role-abc'""\;--"

-- 4.1 (transaction: false)
DROP ROLE IF EXISTS "v-token-role-abc'""\;--"
