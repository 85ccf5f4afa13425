-- firebird: create

-- 1.1
CREATE USER "v-token-role-abc'""\;--" PASSWORD '[password]'
