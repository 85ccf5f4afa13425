-- oracle: rollback

-- 1.1 (on_error: continue)
DROP USER "v-token-role-abc'""\;--" CASCADE
