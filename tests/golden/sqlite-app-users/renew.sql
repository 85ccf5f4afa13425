-- sqlite-app-users: renew

-- 1.1
UPDATE "api_clients" SET expires_at = '2030-01-02 03:04:05' WHERE username = 'v-token-role-abc''"\;--'
