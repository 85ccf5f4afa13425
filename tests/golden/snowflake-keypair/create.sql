-- snowflake-keypair: create

-- 1.1
EXECUTE IMMEDIATE $$
BEGIN
  LET pk VARCHAR := REGEXP_REPLACE('-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo
4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u
-----END PUBLIC KEY-----
', '-----[^-]*-----|[^A-Za-z0-9+/=]', '');
  LET days INTEGER := GREATEST(1, CEIL(DATEDIFF('second', SYSDATE(), TO_TIMESTAMP_NTZ('2030-01-02 03:04:05', 'YYYY-MM-DD HH24:MI:SS')) / 86400));
  LET stmt VARCHAR := 'CREATE USER "' || REPLACE('v-token-role-abc''"\\;--', '"', '""') || '" TYPE = SERVICE'
    || ' RSA_PUBLIC_KEY = ''' || pk || ''' DAYS_TO_EXPIRY = ' || days;
  EXECUTE IMMEDIATE :stmt;
END;
$$

-- 2.1
GRANT ROLE "sample_role" TO USER "v-token-role-abc'""\;--"

-- 3.1
ALTER USER "v-token-role-abc'""\;--" SET DEFAULT_ROLE = "sample_role"
