"""Staff, grants, authentication, the access log and vault keys (セキュリティ基盤)."""
