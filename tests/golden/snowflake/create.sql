-- snowflake: create

-- 1.1
CREATE USER "v-token-role-abc'""\;--" PASSWORD = '[password]' MUST_CHANGE_PASSWORD = FALSE

-- 2.1
EXECUTE IMMEDIATE $$
BEGIN
  LET days INTEGER := GREATEST(1, CEIL(DATEDIFF('second', SYSDATE(), TO_TIMESTAMP_NTZ('2030-01-02 03:04:05', 'YYYY-MM-DD HH24:MI:SS')) / 86400));
  LET stmt VARCHAR := 'ALTER USER "' || REPLACE('v-token-role-abc''"\\;--', '"', '""') || '" SET DAYS_TO_EXPIRY = ' || days;
  EXECUTE IMMEDIATE :stmt;
END;
$$
