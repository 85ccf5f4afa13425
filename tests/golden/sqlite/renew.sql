-- sqlite: renew

-- 1.1
UPDATE "app_users" SET expires_at = '2030-01-02 03:04:05' WHERE username = 'v-token-role-abc''"\;--'
