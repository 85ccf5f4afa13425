-- cockroachdb: create

-- 1.1
CREATE ROLE "v-token-role-abc'""\;--" WITH LOGIN PASSWORD 'SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey>' VALID UNTIL '2030-01-02 03:04:05+0000'
