-- postgresql: rollback

-- 1.1
DROP ROLE IF EXISTS "v-token-role-abc'""\;--"
