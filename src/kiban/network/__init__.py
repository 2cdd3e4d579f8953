"""A stand-in for the national 情報提供ネットワークシステム, run as its own process.

It registers cities and agencies, issues 符号 per agency, issues 情報提供許可証 by the
照会許可用照合リスト and routes requests between intermediate servers. It never sees a city's
business data in the clear: answers are encrypted to the inquirer's key.
"""
