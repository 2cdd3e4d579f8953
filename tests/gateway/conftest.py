"""Fixtures of the 中間サーバー tests: two cities as tenants of one gateway, a network key pair
playing the 情報提供ネットワークシステム's, staff of the 中間サーバー business (real grants)."""

from gateway_support import cities, network

from identity.conftest import app_engine, org, staff_ctx

__all__ = ["app_engine", "cities", "network", "org", "staff_ctx"]
