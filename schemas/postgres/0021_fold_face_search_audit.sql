-- One audit trail (docs/privacy.md, section 4): the searches by face that `face_search_audit` kept
-- become `search.face` records of the append-only `audit_log`, with their scope and outcome in
-- `detail`, and the table goes. Since the audit log began, each search that ran was in both (a
-- `search.face` record without its scope, written right after the table's); those partial records
-- are replaced by the complete ones, so each search is recorded once.
DO $$
BEGIN
    IF to_regclass('face_search_audit') IS NULL THEN
        RETURN;
    END IF;
    -- Deleting from the audit log passes only where retention says so (0018's trigger).
    SET LOCAL sightline.retention = 'on';
    DELETE FROM audit_log a USING face_search_audit f
    WHERE a.action = 'search.face'
      AND a.principal_id = f.token_id
      AND a.subject = CASE WHEN f.photo_sha256 IS NOT NULL THEN 'photo ' || f.photo_sha256
                           ELSE 'event ' || f.event_id::text END
      AND a.at >= f.searched_at AND a.at < f.searched_at + interval '10 minutes';
    SET LOCAL sightline.retention = 'off';
    INSERT INTO audit_log (at, principal_id, principal_name, role, via, service, action, subject, count, detail)
    SELECT searched_at, token_id, token_name, role, via, 'query', 'search.face',
           CASE WHEN photo_sha256 IS NOT NULL THEN 'photo ' || photo_sha256 ELSE 'event ' || event_id::text END,
           tracks_found,
           jsonb_build_object('photo_sha256', photo_sha256, 'event_id', event_id, 'from_ms', from_ms,
                              'to_ms', to_ms, 'site', site, 'stream_id', stream_id, 'threshold', threshold,
                              'outcome', outcome)
    FROM face_search_audit
    ORDER BY searched_at, id;
    DROP TABLE face_search_audit;
END;
$$;
