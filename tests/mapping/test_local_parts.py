"""exim's local-part regexes as smtpd rcpt-to regexes over the whole address."""

from __future__ import annotations

import re

import pytest

from migrate.mapping.local_parts import _patterns, _translate

# (exim pattern after expansion, addresses it must refuse, addresses it must let through)
SAME_MEANING = [
    ("^[.]", [".dot@example.org"], ["dot.@example.org", "a@.example.org"]),
    ("^.*[@%!/|]", ["a%b@example.org", "a/b@example.org", "x!y@example.org"], ["plain@example.org", "a@b%c.org"]),
    ("^[./|]", ["/etc@example.org", "|cmd@example.org"], ["a/b@example.org"]),
    ("^.*/\\.\\./", ["a/../b@example.org"], ["a/./b@example.org", "a/b@x/../y"]),
    ("^[^.]$", ["x@example.org"], ["xy@example.org", ".@example.org"]),
]


@pytest.mark.parametrize(("pattern", "refused", "passed"), SAME_MEANING)
def test_translated_patterns_look_at_the_local_part_only(pattern: str, refused: list[str], passed: list[str]) -> None:
    translated = _translate(pattern)
    assert translated is not None and "\\" not in translated  # smtpd's parser keeps backslashes in strings
    for address in refused:
        assert re.search(translated, address), (translated, address)
    for address in passed:
        assert not re.search(translated, address), (translated, address)


@pytest.mark.parametrize(
    "pattern",
    [
        "^postmaster",  # letters: exim matches local parts caselessly or not by option; leave it
        "^.*?x",  # lazy: no ERE meaning
        "^(a|b)",  # groups and alternation
        "^\\d",  # PCRE class escapes
        "[.]",  # not anchored
        "^[[:alpha:]]",  # POSIX classes inside brackets
    ],
)
def test_patterns_outside_the_shared_subset_are_not_translated(pattern: str) -> None:
    assert _translate(pattern) is None


def test_the_list_is_expanded_before_it_is_split() -> None:
    """As written in a configuration file, "\\\\." reaches the regex as "\\."; one untranslatable item drops all."""
    assert _patterns("^[.] : ^.*/\\\\.\\\\./") == ("^[.].*@[^@]*$", "^.*/[.][.]/.*@[^@]*$")
    assert _patterns("^[.] : ^postmaster") == ()
    assert _patterns("^[.] : ${if true{x}}") == ()
