-- hana: rotate

-- 1.1
ALTER USER "v-token-role-abc'""\;--" PASSWORD "[password]" NO FORCE_FIRST_PASSWORD_CHANGE
