"""wildpose: tracked animal poses from wildlife footage."""

__version__ = "0.1.0"
