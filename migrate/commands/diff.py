"""What ``convert`` would change on disk, and whether committed files still implement exim's policy.

Two views: a unified text diff of every file ``convert`` would write against
what is there, and a semantic diff of the two policies (deepdiff over what
``smtpd_reader`` reads from each side), in words an admin understands.
Nothing here writes a file.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deepdiff import DeepDiff

from migrate.commands.convert import Result
from migrate.render.smtpd_reader import read_smtpd_conf

AREAS = {
    "rules": "match rule",
    "listeners": "listener",
    "options": "option",
    "certificates": "certificate",
    "filters": "filter",
}


@dataclass(frozen=True)
class Drift:
    """Text differences per file and the semantic differences, in words."""

    text: tuple[str, ...]
    semantic: tuple[str, ...]

    @property
    def drifted(self) -> bool:
        """True when the committed files no longer say what exim says."""
        return bool(self.semantic)


def existing_files(against: Path, written: frozenset[str] | set[str]) -> dict[str, str]:
    """What is on disk of the files convert writes (``written``), and any rspamd file a run left there.

    Given one file instead of a directory, it stands for smtpd.conf alone.
    """
    if against.is_file():
        return {"smtpd.conf": against.read_text(errors="surrogateescape")}
    found = {}
    for name in sorted(written):
        if (against / name).is_file():
            found[name] = (against / name).read_text(errors="surrogateescape")
    rspamd = against / "rspamd"
    for path in sorted(rspamd.rglob("*")) if rspamd.is_dir() else ():
        name = str(path.relative_to(against))
        if path.is_file() and not name.endswith(".bak") and name not in found:
            found[name] = path.read_text(errors="surrogateescape")
    return found


def compare(result: Result, against: Path) -> Drift:
    """Text and semantic differences between a conversion and what is on disk."""
    return compare_files(result.files, result.secret_files, against)


def compare_files(files: dict[str, str], secret_files: frozenset[str], against: Path) -> Drift:
    """``compare`` from the written files alone: a caller may let go of the parse tree and the policy first.

    On 200,000 domains those are most of the memory, and reading the other side back needs as much again.
    """
    current = existing_files(against, set(files))
    # one smtpd.conf: compare that file alone
    result_files = {"smtpd.conf": files["smtpd.conf"]} if against.is_file() else files
    text = []
    for name in sorted(set(result_files) | set(current)):
        new, old = result_files.get(name, ""), current.get(name, "")
        if new != old and name in secret_files:  # it holds a password: say so, show nothing
            text.append(f"--- a/{name}\n+++ b/{name}\n(differs; holds a password, so it is not shown)\n")
        elif new != old:
            text.append(
                "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"a/{name}", f"b/{name}"))
            )
    # a directory: its table files are compared by their entries, as inline tables are
    ours, theirs = ({}, {}) if against.is_file() else (files, current)
    semantic = semantic_diff(files.get("smtpd.conf", ""), current.get("smtpd.conf", ""), ours, theirs)
    for name in sorted(n for n in set(files) | set(current) if n.startswith("rspamd/")):
        if _settings(files.get(name, "")) != _settings(current.get(name, "")):
            semantic.append(f"{name}: settings differ from what exim's configuration gives")
    return Drift(tuple(text), tuple(semantic))


def _settings(text: str) -> list[str]:
    return [" ".join(line.split("#", 1)[0].split()) for line in text.splitlines() if line.split("#", 1)[0].strip()]


def semantic_diff(
    exim_text: str,
    committed_text: str,
    exim_files: Mapping[str, str] | None = None,
    committed_files: Mapping[str, str] | None = None,
) -> list[str]:
    """Differences between two smtpd.conf texts as sentences ('exim' is the generated side).

    The files beside each smtpd.conf, by name, give the entries of its ``file:`` tables.
    """
    ours = read_smtpd_conf(exim_text, "generated smtpd.conf", exim_files).normalised()
    theirs = read_smtpd_conf(committed_text, "smtpd.conf", committed_files).normalised() if committed_text else {}
    if not committed_text:
        return ["smtpd.conf is missing"]
    _only_differences(ours, theirs)
    diff = DeepDiff(ours, theirs, verbose_level=2)
    sentences = []
    for path, value in diff.get("iterable_item_added", {}).items():
        sentences.append(f"{_where(path)}: + {_show(value)} in smtpd.conf, not in exim")
    for path, value in diff.get("iterable_item_removed", {}).items():
        sentences.append(f"{_where(path)}: - {_show(value)} in exim, not in smtpd.conf")
    for path, value in diff.get("dictionary_item_added", {}).items():
        sentences.append(f"{_where(path)}: + {_show(value)} in smtpd.conf, not in exim")
    for path, value in diff.get("dictionary_item_removed", {}).items():
        sentences.append(f"{_where(path)}: - {_show(value)} in exim, not in smtpd.conf")
    for path, change in diff.get("values_changed", {}).items():
        sentences.append(
            f"{_where(path)}: exim says {_show(change['old_value'])}, smtpd.conf says {_show(change['new_value'])}"
        )
    for path, change in diff.get("type_changes", {}).items():
        sentences.append(
            f"{_where(path)}: exim says {_show(change['old_value'])}, smtpd.conf says {_show(change['new_value'])}"
        )
    return sorted(sentences)


BIG_LIST = 1000  # entries: above this, a table is compared as two sets before DeepDiff sees it


def _only_differences(ours: object, theirs: object) -> None:
    """Where both sides hold a big table in the same place, keep only the entries one side lacks.

    DeepDiff hashes and keeps every item it compares: 200,000 domains on each
    side cost more time and memory than the whole conversion. The entries both
    have say nothing; what is left gives the same sentences.
    """
    keys: list[Any]
    if isinstance(ours, dict) and isinstance(theirs, dict):
        keys = list(ours.keys() & theirs.keys())
    elif isinstance(ours, list) and isinstance(theirs, list):
        keys = list(range(min(len(ours), len(theirs))))
    else:
        return
    mine: Any = ours
    other: Any = theirs
    for key in keys:
        a, b = mine[key], other[key]
        if _big_table(a) and _big_table(b):
            same = a == b
            mine[key] = [] if same else sorted(set(a) - set(b))
            other[key] = [] if same else sorted(set(b) - set(a))
        else:
            _only_differences(a, b)


def _big_table(value: object) -> bool:
    return isinstance(value, list) and len(value) > BIG_LIST and isinstance(value[0], str)  # a table's entries


def _where(path: str) -> str:
    parts = re.findall(r"\[([^\]]+)\]", path)
    words = []
    for index, part in enumerate(parts):
        part = part.strip("'\"")
        if index == 0:
            words.append(AREAS.get(part, part))
        elif part.isdigit() and index == 1:
            words[-1] += f" {int(part) + 1}"
        elif not part.isdigit():
            words.append(part)
    return ", ".join(words)


def _show(value: object) -> str:
    if isinstance(value, list):
        return "{ " + ", ".join(_show(v) for v in value) + " }"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} {_show(v)}" for k, v in value.items()) + " }"
    return str(value)
