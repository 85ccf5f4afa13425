-- firebird: rollback

-- 1.1
EXECUTE BLOCK AS
BEGIN
  IF (EXISTS (SELECT 1 FROM SEC$USERS WHERE SEC$USER_NAME = 'v-token-role-abc''"\;--')) THEN
    EXECUTE STATEMENT 'DROP USER "' || REPLACE('v-token-role-abc''"\;--', '"', '""') || '"';
END
