-- hana: create

-- 1.1
CREATE USER "v-token-role-abc'""\;--" PASSWORD "[password]" NO FORCE_FIRST_PASSWORD_CHANGE VALID UNTIL '2030-01-02 03:04:05'
