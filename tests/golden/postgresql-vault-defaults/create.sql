-- postgresql-vault-defaults: create

-- 1.1
CREATE ROLE "v-token-role-abc'""\;--" WITH LOGIN PASSWORD '[password]' VALID UNTIL '2030-01-02 03:04:05+0000'
