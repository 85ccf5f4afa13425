-- mysql: user_exists

-- 1.1
SELECT 1 FROM mysql.user WHERE User = 'v-token-role-abc''"\\;--'
