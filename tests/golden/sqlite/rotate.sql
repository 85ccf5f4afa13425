-- sqlite: rotate

-- 1.1
UPDATE "app_users" SET password_hash = 'SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey>' WHERE username = 'v-token-role-abc''"\;--'
