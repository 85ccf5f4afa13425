-- mssql: revoke

-- 1.1 (transaction: false, on_error: continue)
IF EXISTS (SELECT 1 FROM sys.server_principals WHERE name = N'v-token-role-abc''"\;--') ALTER LOGIN [v-token-role-abc'"\;--] DISABLE

-- 2.1 (transaction: false, on_error: continue)
DECLARE @kill nvarchar(max) = N''
;
SELECT @kill = @kill + N'KILL ' + CAST(session_id AS nvarchar(10)) + N'; '
  FROM sys.dm_exec_sessions
  WHERE login_name = N'v-token-role-abc''"\;--' AND session_id <> @@SPID
;
EXEC sys.sp_executesql @kill

-- 3.1 (transaction: false)
DROP USER IF EXISTS [v-token-role-abc'"\;--]

-- 4.1 (transaction: false)
IF EXISTS (SELECT 1 FROM sys.server_principals WHERE name = N'v-token-role-abc''"\;--') DROP LOGIN [v-token-role-abc'"\;--]
