-- mysql-app-user: create (set readonly)

-- 1.1
CREATE USER 'v-token-role-abc''"\\;--'@'%' IDENTIFIED BY '[password]'

-- 2.1
GRANT SELECT ON `sample_db`.* TO 'v-token-role-abc''"\\;--'@'%'
