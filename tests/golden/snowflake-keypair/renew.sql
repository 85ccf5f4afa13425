-- snowflake-keypair: renew

-- 1.1
EXECUTE IMMEDIATE $$
BEGIN
  LET days INTEGER := GREATEST(1, CEIL(DATEDIFF('second', SYSDATE(), TO_TIMESTAMP_NTZ('2030-01-02 03:04:05', 'YYYY-MM-DD HH24:MI:SS')) / 86400));
  LET stmt VARCHAR := 'ALTER USER "' || REPLACE('v-token-role-abc''"\\;--', '"', '""') || '" SET DAYS_TO_EXPIRY = ' || days;
  EXECUTE IMMEDIATE :stmt;
END;
$$
