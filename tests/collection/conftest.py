"""Fixtures for collection tests: the identity hub's staff and person factories (same real database)."""

from identity.conftest import app_engine, clean_identity, new_person, org, staff_ctx

__all__ = ["app_engine", "clean_identity", "new_person", "org", "staff_ctx"]
