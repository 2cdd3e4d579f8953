"""Request and permit ids never look like a 個人番号 (the access log and the 情報提供等記録 refuse one)."""

from __future__ import annotations

import re
import uuid

from kiban.network import protocol
from kiban.shared.mynumber import contains_my_number


def test_new_ids_are_hex_without_twelve_digits_in_a_row() -> None:
    ids = {protocol.new_id() for _ in range(20_000)}
    assert len(ids) == 20_000
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) and not re.search(r"[0-9]{12}", i) for i in ids)
    assert not any(contains_my_number(i) for i in ids)


def test_a_plain_uuid_would_sometimes_be_refused_by_the_log() -> None:
    """Why new_id exists: over 20,000 random UUIDs some carry a check-digit-valid 12-digit run."""
    assert any(contains_my_number(uuid.uuid4().hex) for _ in range(20_000))
