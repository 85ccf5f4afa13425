-- postgresql-readwrite: rotate_root

-- 1.1
ALTER ROLE "v-token-role-abc'""\;--" WITH PASSWORD 'SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey>'
