-- mssql: rotate

-- 1.1
ALTER LOGIN [v-token-role-abc'"\;--] WITH PASSWORD = '[password]'
