-- sqlite-app-users: rollback

-- 1.1
DELETE FROM "api_clients" WHERE username = 'v-token-role-abc''"\;--'
