-- hana: renew

-- 1.1
ALTER USER "v-token-role-abc'""\;--" VALID UNTIL '2030-01-02 03:04:05'
