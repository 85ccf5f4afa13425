-- postgresql-vault-defaults: rotate

-- 1.1
ALTER ROLE "v-token-role-abc'""\;--" WITH PASSWORD '[password]'
