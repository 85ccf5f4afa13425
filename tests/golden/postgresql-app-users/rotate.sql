-- postgresql-app-users: rotate

-- 1.1
UPDATE "public"."app_users" SET password_hash = 'SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey>' WHERE username = 'v-token-role-abc''"\;--'
