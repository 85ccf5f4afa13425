-- mariadb: revoke

-- 1.1 (on_error: continue)
SET @yamldb_revoke = 'DO 0'

-- 1.2
SET @yamldb_revoke = COALESCE((
  SELECT CONCAT('DROP USER IF EXISTS ', GROUP_CONCAT(CONCAT(QUOTE(User), '@', QUOTE(Host)) SEPARATOR ', '))
  FROM mysql.user WHERE User = 'v-token-role-abc''"\\;--'), 'DO 0')

-- 1.3
PREPARE yamldb_revoke FROM @yamldb_revoke

-- 1.4
EXECUTE yamldb_revoke

-- 1.5
DEALLOCATE PREPARE yamldb_revoke

-- 1.6
SET @yamldb_revoke = NULL

-- 2.1
DROP USER IF EXISTS 'v-token-role-abc''"\\;--'@'%'

-- 3.1 (on_error: continue)
KILL CONNECTION USER 'v-token-role-abc''"\\;--'
