-- postgresql-readwrite: revoke

-- 1.1
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'v-token-role-abc''"\;--') THEN
    EXECUTE format('GRANT %I TO %I', 'v-token-role-abc''"\;--', current_user);
    EXECUTE format('ALTER ROLE %I NOLOGIN', 'v-token-role-abc''"\;--');
  END IF;
END
$$

-- 2.1 (transaction: false)
SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'v-token-role-abc''"\;--' AND pid <> pg_backend_pid()

-- 3.1
DO $$
DECLARE
  others text;
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'v-token-role-abc''"\;--') THEN
    EXECUTE format('REASSIGN OWNED BY %I TO %I', 'v-token-role-abc''"\;--', current_user);
    EXECUTE format('DROP OWNED BY %I', 'v-token-role-abc''"\;--');
    SELECT string_agg(DISTINCT d.datname, ', ' ORDER BY d.datname) INTO others
      FROM pg_shdepend s JOIN pg_database d ON d.oid = s.dbid
     WHERE s.refclassid = 'pg_authid'::regclass
       AND s.refobjid = (SELECT oid FROM pg_roles WHERE rolname = 'v-token-role-abc''"\;--')
       AND s.dbid <> (SELECT oid FROM pg_database WHERE datname = current_database());
    IF others IS NOT NULL THEN
      RAISE EXCEPTION 'role % owns objects or holds privileges in database(s) % (this connection reaches %)', 'v-token-role-abc''"\;--', others, current_database()
        USING HINT = 'The role can no longer log in. In each of those databases run REASSIGN OWNED BY the role TO an admin and DROP OWNED BY the role, then revoke the lease again.';
    END IF;
    EXECUTE format('DROP ROLE %I', 'v-token-role-abc''"\;--');
  END IF;
END
$$
