"""庁内連携 (intra-agency linkage hub): item catalogue, subscriptions by legal basis, delivery.

Business contexts never import one another; data between them moves through this package, which
checks the subscription and its legal basis and logs every transfer (seeds 000, 003).

- ``applications`` — データ使用承認願 (apply / approve / refuse) and the 利用登録 (subscriptions, revoke);
- ``delivery`` — ``deliver_pending(conn, *, consumer, handler=None, limit=500) -> int``, ``read_inbox``,
  ``acknowledge`` (exactly-once delivery from the outbox, transfer log with both timestamps);
- ``records`` — the typed read models ``PlainRecord`` (no number field) / ``NumberedRecord``, ``Delivered``;
- ``numbers`` — the only path to the 個人番号 vault (My-Number consumers, guarded and logged);
- ``transfers`` — the 連携記録 search. The data files are in ``kiban.rules.linkage``. See docs/linkage.md.
"""
