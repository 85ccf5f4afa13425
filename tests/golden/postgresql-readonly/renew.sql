-- postgresql-readonly: renew

-- 1.1
ALTER ROLE "v-token-role-abc'""\;--" VALID UNTIL '2030-01-02 03:04:05+0000'
