"""中間サーバー (intermediate server): 符号, 副本, 情報照会・情報提供, 情報提供等記録.

A per-city tenant (row-level security on ``city_code``); talks to the 情報提供ネットワークシステム
(``kiban.network``) only through the messages of ``kiban.network.protocol`` (seeds 000 ①–⑩, 001).
"""
