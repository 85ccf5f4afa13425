-- postgresql-readonly: create

-- 1.1
CREATE ROLE "v-token-role-abc'""\;--" WITH LOGIN PASSWORD 'SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey>' VALID UNTIL '2030-01-02 03:04:05+0000'

-- 2.1
GRANT USAGE ON SCHEMA "public" TO "v-token-role-abc'""\;--"

-- 3.1
GRANT SELECT ON ALL TABLES IN SCHEMA "public" TO "v-token-role-abc'""\;--"

-- 4.1
ALTER DEFAULT PRIVILEGES IN SCHEMA "public" GRANT SELECT ON TABLES TO "v-token-role-abc'""\;--"
