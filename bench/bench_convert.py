"""Time and size the whole conversion: the CLI on Debian's config, and scaling with input size.

Prints figures; it is not a test (timings belong in a benchmark, not in CI's
pass/fail). Usage:
    python bench/bench_convert.py            # everything
    python bench/bench_convert.py --quick    # smaller sizes, for a smoke run
Targets (issue 8, one core): Debian's config through the CLI in under 0.3 s
wall including interpreter start-up; 100k list entries in under 2 s; 10x the
input in at most 12x the time; under 200 MB peak memory at 100k entries.
Each measurement runs in a fresh process pinned to one core (taskset when
available), with Python's bytecode cache allowed, as after a pip install.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from bench_reader import debian_internet_config  # noqa: E402

CLI = Path(sys.executable).with_name("exim2smtpd")
PIN = ["taskset", "-c", "0"] if shutil.which("taskset") else []
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

# One conversion in a fresh interpreter: prints seconds and peak RSS as JSON.
_CHILD = """
import json, resource, sys, time
t = time.perf_counter()
from migrate.commands.convert import convert
result = convert(sys.argv[1])
elapsed = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
print(json.dumps({"seconds": elapsed, "peak_mb": peak, "lines": len(result.files["smtpd.conf"].splitlines())}))
"""


def cli_seconds(config: Path, runs: int = 7) -> float:
    """Median wall time of ``exim2smtpd convert`` on one core, start-up included."""
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(runs + 1):
            out = Path(tmp) / f"out{run}"
            start = time.perf_counter()
            subprocess.run(
                [*PIN, str(CLI), "convert", str(config), "-o", str(out)], env=ENV, capture_output=True, check=True
            )
            if run:  # the first run writes the bytecode and template caches
                times.append(time.perf_counter() - start)
    return statistics.median(times)


def convert_in_child(config: Path) -> dict[str, float]:
    """Seconds (imports included) and peak memory of one conversion in a fresh process."""
    result = subprocess.run(
        [*PIN, sys.executable, "-c", _CHILD, str(config)], env=ENV, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout)


def domain_list_config(path: Path, entries: int) -> Path:
    """A configuration whose local domain list has ``entries`` literal domains, ten per line."""
    names = [f"d{n}.example.org" for n in range(entries)]
    lines = [" : ".join(names[i : i + 10]) for i in range(0, entries, 10)]
    body = " : \\\n  ".join(lines)
    path.write_text(_skeleton(f"domainlist local_domains = @ : localhost : \\\n  {body}\n", "  accept\n"))
    return path


def acl_config(path: Path, statements: int) -> Path:
    """A configuration whose RCPT ACL has ``statements`` deny statements before the usual ones."""
    denies = "".join(f"  deny    hosts = 198.51.{n // 250}.{n % 250 + 1}\n" for n in range(statements))
    path.write_text(_skeleton("domainlist local_domains = @ : localhost : example.org\n", denies))
    return path


def _skeleton(lists: str, acl: str) -> str:
    return (
        "primary_hostname = mx.example.org\n"
        f"{lists}"
        "hostlist relay_from_hosts = 127.0.0.1 : 192.0.2.0/24\n"
        "acl_smtp_rcpt = acl_check_rcpt\n"
        "begin acl\n"
        "acl_check_rcpt:\n"
        "  accept  hosts = :\n"
        f"{acl}"
        "  accept  hosts = +relay_from_hosts\n"
        "  require domains = +local_domains\n"
        "  accept\n"
        "begin routers\n"
        "dnslookup:\n  driver = dnslookup\n  domains = ! +local_domains\n  transport = remote_smtp\n  no_more\n"
        "localuser:\n  driver = accept\n  domains = +local_domains\n  check_local_user\n  transport = local\n"
        "begin transports\n"
        "remote_smtp:\n  driver = smtp\n"
        "local:\n  driver = appendfile\n  file = /var/mail/$local_part_data\n"
    )


def scaling(label: str, make, sizes: list[int], workdir: Path) -> None:  # type: ignore[no-untyped-def]
    """Print time and memory per size and the growth factor between sizes."""
    previous: float | None = None
    last_size = 0
    for size in sizes:
        figures = convert_in_child(make(workdir / f"{label}-{size}.conf", size))
        growth = ""
        if previous is not None:
            growth = f"  x{figures['seconds'] / previous:.1f} time for x{size // last_size} input"
        print(f"{label:>12} {size:>7}: {figures['seconds']:6.2f} s  {figures['peak_mb']:4.0f} MB{growth}")
        previous, last_size = figures["seconds"], size


def main() -> None:
    """Print every figure the README records."""
    quick = "--quick" in sys.argv
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        debian = debian_internet_config(workdir)
        print(f"CLI convert of Debian's internet config ({len(debian.read_text().splitlines())} lines), one core:")
        print(f"  {cli_seconds(debian, 3 if quick else 7):.3f} s median wall, start-up included")
        print("Conversion in a fresh process (imports included), one core:")
        scaling("list entries", domain_list_config, [1000, 10000] if quick else [1000, 10000, 100000], workdir)
        scaling("ACL stmts", acl_config, [100, 1000] if quick else [100, 1000, 5000], workdir)


if __name__ == "__main__":
    main()
