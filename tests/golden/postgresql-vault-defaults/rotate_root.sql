-- postgresql-vault-defaults: rotate_root

-- 1.1
ALTER ROLE "v-token-role-abc'""\;--" WITH PASSWORD '[password]'
