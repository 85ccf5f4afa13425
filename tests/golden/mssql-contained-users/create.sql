-- mssql-contained-users: create

-- 1.1
CREATE USER [v-token-role-abc'"\;--] WITH PASSWORD = '[password]'

-- 2.1
ALTER ROLE [db_datareader] ADD MEMBER [v-token-role-abc'"\;--]
