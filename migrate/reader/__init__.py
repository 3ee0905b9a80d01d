"""The exim reader: configuration text in, a source-located parse tree out.

``read_config`` is the entry point; ``read_text`` reads a configuration held
in a string (tests, one-statement mapping cases); ``format_like_exim`` prints
the resolved configuration the way ``exim -bP config`` does, for checking
against exim.
"""

from __future__ import annotations

from migrate.reader.parser import read_config
from migrate.reader.resolved import format_like_exim
from migrate.reader.source import GeneratedFile
from migrate.reader.tree import EximConfig


def read_text(text: str, name: str = "configure", defines: dict[str, str] | None = None) -> EximConfig:
    """Read configuration text as if it were the file ``name`` (which need not exist)."""
    lines = tuple(text.splitlines())
    generated = GeneratedFile(lines, tuple((name, number) for number in range(1, len(lines) + 1)), {name: list(lines)})
    return read_config(name, defines, generated)


__all__ = ["format_like_exim", "read_config", "read_text"]
