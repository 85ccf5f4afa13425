-- firebird: rotate

-- 1.1
ALTER USER "v-token-role-abc'""\;--" PASSWORD '[password]'
