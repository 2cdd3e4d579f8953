"""Pure legal tables (制度の数表): figures a law, a 政令 or an insurer's 条例 publishes, kept as data.

Every figure sits beside the published source it was checked against. No database, no web, no CLI
here (import-linter contract): services and entry points read these tables, never the reverse.
"""
