-- oracle: create

-- 1.1
CREATE USER "v-token-role-abc'""\;--" IDENTIFIED BY "[password]"

-- 2.1
GRANT CREATE SESSION TO "v-token-role-abc'""\;--"
