-- redshift: create

-- 1.1
CREATE USER "v-token-role-abc'""\;--" WITH PASSWORD '[password]' VALID UNTIL '2030-01-02 03:04:05+0000'
