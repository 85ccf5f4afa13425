-- redshift: revoke

-- 1.1 (transaction: false, on_error: continue)
SELECT pg_terminate_backend(process) FROM stv_sessions WHERE TRIM(user_name) = 'v-token-role-abc''"\\;--'

-- 2.1 (transaction: false, on_error: continue)
REVOKE ALL PRIVILEGES ON ALL TABLES IN SCHEMA public FROM "v-token-role-abc'""\;--"

-- 3.1 (transaction: false, on_error: continue)
REVOKE USAGE ON SCHEMA public FROM "v-token-role-abc'""\;--"

-- 4.1
DROP USER IF EXISTS "v-token-role-abc'""\;--"
