"""kiban.identity — the 宛名 / 個人番号 hub (団体内統合宛名システム).

Persons (宛名) with effective-dated history, households (世帯) and membership periods, 送付先 per
business, the 個人番号 vault, resident events from the registry (住民異動), 住登外 registration, facts
other businesses need (住民税課税, 生活保護, 老齢福祉年金, 医療保険), 名寄せ with a two-person review
queue, and the periodic consistency check. Services take an ``AccessContext``; see docs/identity.md.
"""
