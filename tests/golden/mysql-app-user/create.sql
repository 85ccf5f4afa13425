-- mysql-app-user: create

-- 1.1
CREATE USER 'v-token-role-abc''"\\;--'@'%' IDENTIFIED BY '[password]'

-- 2.1
GRANT SELECT, INSERT, UPDATE, DELETE, EXECUTE, CREATE TEMPORARY TABLES ON `sample_db`.* TO 'v-token-role-abc''"\\;--'@'%'
