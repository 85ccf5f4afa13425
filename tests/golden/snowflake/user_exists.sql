-- snowflake: user_exists

-- 1.1
SHOW USERS LIKE 'v-token-role-abc''"\\;--'
