-- mysql-app-user: revoke

-- 1.1
DROP USER IF EXISTS 'v-token-role-abc''"\\;--'@'%'

-- 2.1 (on_error: continue, execute_results: true)
SELECT CONCAT('DROP USER IF EXISTS ', QUOTE(User), '@', QUOTE(Host)) FROM mysql.user WHERE User = 'v-token-role-abc''"\\;--'

-- 3.1 (on_error: warn, execute_results: true)
SELECT CONCAT('KILL CONNECTION ', ID) FROM information_schema.PROCESSLIST WHERE USER = 'v-token-role-abc''"\\;--'
