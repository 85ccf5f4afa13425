-- firebird: create (set with_role)

-- 1.1
CREATE USER "v-token-role-abc'""\;--" PASSWORD '[password]'

-- 2.1
GRANT "SAMPLE_ROLE" TO USER "v-token-role-abc'""\;--"
