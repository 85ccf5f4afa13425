-- mssql: rollback

-- 1.1
DROP USER IF EXISTS [v-token-role-abc'"\;--]

-- 2.1
IF EXISTS (SELECT 1 FROM sys.server_principals WHERE name = N'v-token-role-abc''"\;--') DROP LOGIN [v-token-role-abc'"\;--]
