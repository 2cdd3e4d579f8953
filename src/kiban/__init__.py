"""kiban (基盤) — a platform for a Japanese city's social-security administration."""

__version__ = "0.1.0"
