-- Every reason a login session can end with. Three branches of this release each replaced the check with
-- the reasons they knew (0043 erasure, 0060 apps, 0080 password resets), and the last one applied won;
-- this is the union, so an app's revocation, an erasure and a password reset can all be recorded.
ALTER TABLE auth_sessions DROP CONSTRAINT auth_sessions_revoked_reason_check;
ALTER TABLE auth_sessions ADD CONSTRAINT auth_sessions_revoked_reason_check
    CHECK (revoked_reason IN ('logout', 'refresh_reuse', 'admin', 'erased', 'code_reuse', 'by_person', 'by_app',
                              'app_deleted', 'password_reset'));
