"""The end-of-session scan: no table of free text may hold a 個人番号."""

from __future__ import annotations

from sqlalchemy import Connection, text

from kiban.shared.mynumber import contains_my_number

# Every place kiban writes free text about persons: none may ever hold a 個人番号 (domain.md §10.9).
_TEXT_SCAN = """
    SELECT 'audit.access_log' AS place, id::text AS row_id,
           concat_ws(' ', array_to_string(subjects, ','), detail::text, purpose_text, staff_code) AS body
      FROM audit.access_log
    UNION ALL SELECT 'identity.import_error', import_id || ':' || line_no, concat_ws(' ', record_key, field, message)
      FROM identity.import_error
    UNION ALL SELECT 'kiban_meta.outbox', seq::text, key || ' ' || payload::text FROM kiban_meta.outbox
    UNION ALL SELECT 'identity.resident_event', event_pk::text, event_id || ' ' || payload::text
      FROM identity.resident_event
    UNION ALL SELECT 'identity.match_case', case_id::text,
           concat_ws(' ', source_ref, candidates::text, first_note, second_note) FROM identity.match_case
    UNION ALL SELECT 'identity.check_anomaly', run_id || ':' || seq, concat_ws(' ', person_no, detail)
      FROM identity.check_anomaly
"""


def my_numbers_stored_in_clear(conn: Connection) -> list[str]:
    """Places (table#row) whose text holds a check-digit-valid 12-digit number."""
    rows = conn.execute(text(_TEXT_SCAN)).all()
    return [f"{r.place}#{r.row_id}" for r in rows if r.body and contains_my_number(r.body)][:20]
