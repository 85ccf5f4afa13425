-- mssql-contained-users: revoke

-- 1.1 (transaction: false, on_error: continue)
DECLARE @kill nvarchar(max) = N''
;
SELECT @kill = @kill + N'KILL ' + CAST(session_id AS nvarchar(10)) + N'; '
  FROM sys.dm_exec_sessions
  WHERE login_name = N'v-token-role-abc''"\;--' AND database_id = DB_ID() AND session_id <> @@SPID
;
EXEC sys.sp_executesql @kill

-- 2.1 (transaction: false)
DROP USER IF EXISTS [v-token-role-abc'"\;--]
