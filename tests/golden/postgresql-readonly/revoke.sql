-- postgresql-readonly: revoke

-- 1.1 (transaction: false, on_error: continue)
SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'v-token-role-abc''"\;--' AND pid <> pg_backend_pid()

-- 2.1
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'v-token-role-abc''"\;--') THEN
    -- A CREATEROLE admin (not superuser) needs membership before REASSIGN OWNED (PostgreSQL < 16).
    EXECUTE format('GRANT %I TO %I', 'v-token-role-abc''"\;--', current_user);
    EXECUTE format('REASSIGN OWNED BY %I TO %I', 'v-token-role-abc''"\;--', current_user);
    EXECUTE format('DROP OWNED BY %I', 'v-token-role-abc''"\;--');
    EXECUTE format('DROP ROLE %I', 'v-token-role-abc''"\;--');
  END IF;
END
$$
