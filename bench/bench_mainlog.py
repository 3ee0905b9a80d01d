"""Time the main log reader on a synthetic log shaped like exim 4.100's (``tests/verify/traffic.synthetic_log``).

Prints figures; it is not a test. Usage:
    python bench/bench_mainlog.py [LINES]   # default: 1,000,000 lines
The log is written to a temporary file first (plain, then gzip), so that the
figures are the reader's alone. The read is timed twice: streaming (the
transactions counted and dropped: the reader's own memory) and tallied
(``tally``: its Counter grows with the distinct transactions, and this log's
clients are almost all distinct, as a month of a busy MX's can be). Peak RSS is
the process's high-water mark after each step. Before the tally, the whole
of what ``verify --from-log`` does before smtpd is asked: read, class and
group (``replay.read_traffic``, with exim-default's policy). A calibration figure (CPython's
``sum(range(10**6))``) says how fast this machine runs Python.
"""

from __future__ import annotations

import gzip
import resource
import shutil
import sys
import tempfile
import time
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from migrate.commands.convert import convert  # noqa: E402
from migrate.verify.mainlog import LogSummary, read_logs, tally  # noqa: E402
from migrate.verify.replay import read_traffic  # noqa: E402
from tests.verify.traffic import synthetic_log  # noqa: E402

LINES_PER_MESSAGE = 3.75  # synthetic_log: arrival, 1.5 deliveries, Completed, a refusal every 4 messages


def write_log(path: Path, lines: int) -> int:
    """Write about ``lines`` lines; return how many were written."""
    written = 0
    with path.open("w") as out:
        for line in synthetic_log(int(lines / LINES_PER_MESSAGE) + 1):
            out.write(line + "\n")
            written += 1
    return written


def streamed(path: Path) -> tuple[float, LogSummary, int]:
    summary = LogSummary()
    start = time.perf_counter()
    count = sum(1 for _ in read_logs([path], summary))
    return time.perf_counter() - start, summary, count


def tallied(path: Path) -> tuple[float, int]:
    start = time.perf_counter()
    counted = tally(read_logs([path]))
    return time.perf_counter() - start, len(counted)


def grouped(path: Path) -> tuple[float, int, int]:
    """What verify --from-log does before asking smtpd: read, class and group the recipients into questions."""
    fixture = ROOT / "fixtures/exim-default"
    policy = convert(str(fixture / "configure"), root=str(fixture / "root")).policy
    start = time.perf_counter()
    traffic = read_traffic([path], policy)
    return time.perf_counter() - start, traffic.recipients, len(traffic.questions)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def main() -> None:
    lines = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    calibration = min(timeit.repeat("sum(range(10**6))", number=1, repeat=5)) * 1000
    print(f"calibration: sum(range(10**6)) takes {calibration:.1f} ms on this machine")
    workdir = Path(tempfile.mkdtemp(prefix="exim2smtpd-bench-mainlog-"))
    try:
        plain = workdir / "mainlog"
        written = write_log(plain, lines)
        size = plain.stat().st_size / 2**20
        print(f"log: {written:,} lines, {size:.0f} MB; peak RSS before reading {peak_mb():.0f} MB")
        seconds, summary, count = streamed(plain)
        print(
            f"streamed: {seconds:.2f} s = {written / seconds:,.0f} lines/s; {count:,} transactions, "
            f"{summary.unreadable} unreadable, {summary.pending} pending; peak RSS {peak_mb():.0f} MB"
        )
        packed = workdir / "mainlog.1.gz"
        with plain.open("rb") as source, gzip.open(packed, "wb", compresslevel=6) as target:
            shutil.copyfileobj(source, target)
        seconds, _, _ = streamed(packed)
        print(
            f"gzip ({packed.stat().st_size / 2**20:.0f} MB) streamed: {seconds:.2f} s = "
            f"{written / seconds:,.0f} lines/s; peak RSS {peak_mb():.0f} MB"
        )
        seconds, recipients, questions = grouped(plain)
        print(
            f"read and grouped (verify --from-log before smtpd, exim-default's classes): {seconds:.2f} s = "
            f"{written / seconds:,.0f} lines/s; {recipients:,} recipients, {questions:,} questions sampled; "
            f"peak RSS {peak_mb():.0f} MB"
        )
        seconds, distinct = tallied(plain)
        print(
            f"tallied: {seconds:.2f} s = {written / seconds:,.0f} lines/s; {distinct:,} distinct transactions; "
            f"peak RSS {peak_mb():.0f} MB"
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
