"""Read exim lookup files (lsearch, dsearch) as data for smtpd table files.

exim's lsearch format (spec ch. 9): one key per line, ending at the first
colon or blank (or quoted), ``#`` comments, continuation lines starting with a
blank. A domain or host list only needs the keys. dsearch is a directory whose
entry names are the keys. Files are read from under ``root``, never run.
"""

from __future__ import annotations

from pathlib import Path


def lsearch_keys(path: Path) -> list[str]:
    """The keys of an lsearch file, in order."""
    keys = []
    for line in path.read_text(errors="replace").splitlines():
        if not line.strip() or line.lstrip().startswith("#") or line[:1] in (" ", "\t"):
            continue
        if line.startswith('"'):
            end = line.find('"', 1)
            keys.append(line[1:end] if end > 0 else line[1:])
            continue
        key = line.split(":", 1)[0].split()[0] if line.split(":", 1)[0].split() else ""
        if key:
            keys.append(key)
    return keys


def dsearch_keys(path: Path) -> list[str]:
    """The entry names of a dsearch directory, sorted."""
    return sorted(p.name for p in path.iterdir() if not p.name.startswith("."))


def under(root: Path, path: str) -> Path:
    """``path`` as it lies under ``root`` (which is / on the server itself)."""
    return root / path.lstrip("/")
