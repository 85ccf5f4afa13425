-- mariadb: create

-- 1.1
CREATE USER 'v-token-role-abc''"\\;--'@'%' IDENTIFIED BY '[password]'
