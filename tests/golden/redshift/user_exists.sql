-- redshift: user_exists

-- 1.1
SELECT 1 FROM pg_user WHERE usename = 'v-token-role-abc''"\\;--'
