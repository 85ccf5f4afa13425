-- mssql: user_exists

-- 1.1
SELECT 1 FROM sys.server_principals WHERE name = N'v-token-role-abc''"\;--' UNION ALL SELECT 1 FROM sys.database_principals WHERE name = N'v-token-role-abc''"\;--'
