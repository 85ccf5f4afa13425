-- firebird: revoke

-- 1.1
DELETE FROM MON$ATTACHMENTS WHERE MON$USER = 'v-token-role-abc''"\;--' AND MON$ATTACHMENT_ID <> CURRENT_CONNECTION

-- 2.1
REVOKE ALL ON ALL FROM USER "v-token-role-abc'""\;--"

-- 3.1
EXECUTE BLOCK AS
BEGIN
  IF (EXISTS (SELECT 1 FROM SEC$USERS WHERE SEC$USER_NAME = 'v-token-role-abc''"\;--')) THEN
    EXECUTE STATEMENT 'DROP USER "' || REPLACE('v-token-role-abc''"\;--', '"', '""') || '"';
END
