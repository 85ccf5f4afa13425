-- sqlite-app-users: rotate

-- 1.1
UPDATE "api_clients" SET password_hash = 'SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey>' WHERE username = 'v-token-role-abc''"\;--'
