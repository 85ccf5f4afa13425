-- snowflake-keypair: rotate

-- 1.1
EXECUTE IMMEDIATE $$
BEGIN
  LET pk VARCHAR := REGEXP_REPLACE('-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo
4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u
-----END PUBLIC KEY-----
', '-----[^-]*-----|[^A-Za-z0-9+/=]', '');
  LET stmt VARCHAR := 'ALTER USER "' || REPLACE('v-token-role-abc''"\\;--', '"', '""') || '" SET RSA_PUBLIC_KEY = ''' || pk || '''';
  EXECUTE IMMEDIATE :stmt;
END;
$$
