-- postgresql-vault-defaults: revoke

-- 1.1 (transaction: false, on_error: continue)
DO $$
DECLARE
  s text;
BEGIN
  FOR s IN SELECT DISTINCT table_schema FROM information_schema.role_column_grants
           WHERE grantee = 'v-token-role-abc''"\;--'
  LOOP
    EXECUTE format('REVOKE ALL PRIVILEGES ON ALL TABLES IN SCHEMA %I FROM %I', s, 'v-token-role-abc''"\;--');
    EXECUTE format('REVOKE USAGE ON SCHEMA %I FROM %I', s, 'v-token-role-abc''"\;--');
  END LOOP;
END
$$

-- 2.1 (transaction: false, on_error: continue)
REVOKE ALL PRIVILEGES ON ALL TABLES IN SCHEMA public FROM "v-token-role-abc'""\;--"

-- 3.1 (transaction: false, on_error: continue)
REVOKE ALL PRIVILEGES ON ALL SEQUENCES IN SCHEMA public FROM "v-token-role-abc'""\;--"

-- 4.1 (transaction: false, on_error: continue)
REVOKE USAGE ON SCHEMA public FROM "v-token-role-abc'""\;--"

-- 5.1 (transaction: false, on_error: continue)
DO $$
BEGIN
  EXECUTE format('REVOKE CONNECT ON DATABASE %I FROM %I', current_database(), 'v-token-role-abc''"\;--');
END
$$

-- 6.1 (transaction: false)
DROP ROLE IF EXISTS "v-token-role-abc'""\;--"
