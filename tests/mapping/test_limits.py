"""exim's times in the one unit smtpd reads: ``1w2h`` is not an smtpd delay, ``170h`` is."""

from __future__ import annotations

import pytest

from migrate.lookups import MemoryStore
from migrate.mapping import build_policy
from migrate.reader import read_text


@pytest.mark.parametrize(
    ("cutoff", "ttl"), [("4d", "4d"), ("1w", "7d"), ("1w2h", "170h"), ("90m", "2h"), ("2h30m", "150m")]
)
def test_the_retry_cutoff_becomes_one_smtpd_delay(cutoff: str, ttl: str) -> None:
    config = read_text(f"delay_warning = 1w\nbegin retry\n* * F,2h,15m; F,{cutoff},6h\n")
    limits = build_policy(config, store=MemoryStore()).limits
    assert limits.queue_ttl == ttl  # the longest cutoff (2h is the first step's)
    assert limits.bounce_warn_interval == "7d"
