"""Request and permit ids never look like a 個人番号 (the access log and the 情報提供等記録 refuse one)."""

from __future__ import annotations

import random
import re
import uuid

import pytest

from kiban.network import protocol
from kiban.shared import mynumber
from kiban.shared.mynumber import contains_my_number


def test_new_ids_are_hex_without_twelve_digits_in_a_row() -> None:
    ids = {protocol.new_id() for _ in range(20_000)}
    assert len(ids) == 20_000
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) and not re.search(r"[0-9]{12}", i) for i in ids)
    assert not any(contains_my_number(i) for i in ids)


def test_a_plain_uuid_would_sometimes_be_refused_by_the_log() -> None:
    """Why new_id exists: over 20,000 random UUIDs some carry a check-digit-valid 12-digit run."""
    assert any(contains_my_number(uuid.uuid4().hex) for _ in range(20_000))


def test_a_request_id_from_another_city_is_checked_before_it_is_used() -> None:
    """What new_id never makes, another city's software might: refused with a message that does not
    repeat it. A run of more digits than twelve is not a 個人番号 (the log's own rule) and passes."""
    digits = mynumber.generate(random.Random("protocol-ids"))
    for good in (protocol.new_id(), "x", "req-2026-0001", "0" * 32, "A" * 64):
        assert protocol.check_request_id(good) == good
    for bad in (f"r-{digits}", digits, f"{digits}-x", "", "has space", "A" * 65, "全角", None, 12):
        with pytest.raises(protocol.ProtocolError) as caught:
            protocol.check_request_id(bad)
        assert digits not in str(caught.value)
    with pytest.raises(protocol.ProtocolError):
        protocol.ProvisionRequest.from_json(
            {"request_id": f"r-{digits}", "permit": {}, "inquirer_public_key": "", "sent_at": ""}
        )
