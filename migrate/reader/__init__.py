"""The exim reader: configuration text in, a source-located parse tree out.

``read_config`` is the entry point; ``format_like_exim`` prints the resolved
configuration the way ``exim -bP config`` does, for checking against exim.
"""

from migrate.reader.parser import read_config
from migrate.reader.resolved import format_like_exim

__all__ = ["format_like_exim", "read_config"]
