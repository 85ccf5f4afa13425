-- snowflake-keypair: revoke

-- 1.1
ALTER USER IF EXISTS "v-token-role-abc'""\;--" SET DISABLED = TRUE

-- 2.1
DROP USER IF EXISTS "v-token-role-abc'""\;--"
