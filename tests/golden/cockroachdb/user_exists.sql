-- cockroachdb: user_exists

-- 1.1
SELECT 1 FROM pg_roles WHERE rolname = 'v-token-role-abc''"\;--'
