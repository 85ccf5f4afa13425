-- mariadb: rollback

-- 1.1
DROP USER IF EXISTS 'v-token-role-abc''"\\;--'@'%'
