-- mssql: create

-- 1.1
CREATE LOGIN [v-token-role-abc'"\;--] WITH PASSWORD = '[password]'

-- 2.1
CREATE USER [v-token-role-abc'"\;--] FOR LOGIN [v-token-role-abc'"\;--]
