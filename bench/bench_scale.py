"""Issue 17's figures, each as a ratio measured in this one run, so that the machine's speed cancels out.

Prints; it is not a test (tests/commands/test_scale.py counts steps instead).
Usage:
    python bench/bench_scale.py            # everything (a few minutes; verify needs `make test-deps`)
    python bench/bench_scale.py --quick    # 2,000 and 20,000 domains, no verify
    python bench/bench_scale.py --no-verify
Targets:
  - on the 200,000-domain configuration, parse --json, report --format json,
    diff and check each take at most 1.3x what convert takes, and every command
    peaks under 150 MB; 10x the domains cost at most 11x the time (20k -> 200k)
  - verify's own work on it (what it takes beyond the same questions asked
    about a 2,000-domain configuration) at most 1.3x convert
  - the CLI converting Debian's configuration: at most 1.5x
    `python -c "import click, pyparsing, jinja2"`
  - read + convert in-process: at most 3x `exim -C FILE -bV`
Each command runs in a fresh process pinned to one core (taskset when there
is one); its time is the median of a few runs, its peak the child's own RSS.
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from bench_convert import domain_list_config  # noqa: E402
from bench_reader import debian_internet_config  # noqa: E402

CLI = Path(sys.executable).with_name("exim2smtpd")
PIN = ["taskset", "-c", "0"] if shutil.which("taskset") else []
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
EXIM_ROOT = Path(os.environ.get("EXIM2SMTPD_ROOTS", ROOT / ".cache" / "roots")) / "unstable"

# read + convert in a warm interpreter: the median of a few, in seconds
_IN_PROCESS = """
import statistics, sys, time
from migrate.commands.convert import convert
convert(sys.argv[1])
times = []
for _ in range(int(sys.argv[2])):
    start = time.perf_counter()
    convert(sys.argv[1])
    times.append(time.perf_counter() - start)
print(statistics.median(times))
"""


def run(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one fresh process, stdout discarded.

    The peak is the largest of the process and the children it waited for: for verify, exim's own.
    """
    start = time.perf_counter()
    child = subprocess.Popen([*PIN, *command], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - start
    stderr = child.stderr.read().decode(errors="replace") if child.stderr else ""
    if os.waitstatus_to_exitcode(status) not in (0, 2):
        raise SystemExit(f"bench: {' '.join(command)} failed:\n{stderr}")
    return elapsed, usage.ru_maxrss / 1024


def measure(command: list[str], runs: int) -> tuple[float, float]:
    """Median seconds and highest peak over ``runs`` runs (one more first, to warm the caches)."""
    figures = [run(command) for _ in range(runs + 1)][1:]
    return statistics.median(f[0] for f in figures), max(f[1] for f in figures)


def commands(config: Path, out: Path, scratch: Path) -> dict[str, list[str]]:
    cli = str(CLI)
    return {
        "convert": [cli, "convert", str(config), "-o", str(scratch), "--force"],
        "parse --json": [cli, "parse", "--json", str(config)],
        "report --format json": [cli, "report", "--format", "json", str(config)],
        "diff": [cli, "diff", str(config), "--against", str(out)],
        "check": [cli, "check", str(config), "--against", str(out)],
    }


def scale(workdir: Path, sizes: tuple[int, int], runs: int, with_verify: bool) -> None:
    """Every command on the small and the big list: ratio to convert, peak, growth."""
    figures: dict[int, dict[str, tuple[float, float]]] = {}
    for size in sizes:
        config = domain_list_config(workdir / f"domains-{size}.conf", size)
        out = workdir / f"out-{size}"
        subprocess.run([str(CLI), "convert", str(config), "-o", str(out)], env=ENV, capture_output=True, check=True)
        figures[size] = {
            name: measure(command, runs) for name, command in commands(config, out, workdir / "scratch").items()
        }
        if with_verify:
            figures[size]["verify"] = run([str(CLI), "verify", str(config), str(out)])  # minutes: once
    small, big = sizes
    base = figures[big]["convert"][0]
    print(f"{big:,} domains (one core)   seconds   x convert   peak MB   {small:,} -> {big:,}")
    for name, (seconds, peak) in figures[big].items():
        growth = seconds / figures[small][name][0]
        ratio = f"{seconds / base:9.2f}"
        if name == "verify":  # its own work: beyond the same questions about the small list
            ratio = f"{(seconds - figures[small][name][0]) / base:9.2f}*"
        print(f"  {name:22} {seconds:8.2f} {ratio:10} {peak:8.0f}   x{growth:.1f} time for x{big // small}")
    if with_verify:
        print("  * verify: (its seconds here - its seconds on the small list, the same questions) / convert's")


def startup(workdir: Path, runs: int) -> None:
    """The CLI on Debian's configuration against importing the libraries alone, and in-process against exim."""
    debian = debian_internet_config(workdir)
    imports, _ = measure([sys.executable, "-c", "import click, pyparsing, jinja2"], runs)
    cli, _ = measure([str(CLI), "convert", str(debian), "-o", str(workdir / "debian-out"), "--force"], runs)
    lines = len(debian.read_text().splitlines())
    print(f"Debian's internet configuration ({lines} lines), one core:")
    print(f"  import click, pyparsing, jinja2   {imports:.3f} s")
    print(f"  exim2smtpd convert                {cli:.3f} s   {cli / imports:.2f}x the imports (target 1.5x)")
    done = subprocess.run(
        [*PIN, sys.executable, "-c", _IN_PROCESS, str(debian), str(runs * 3)],
        env=ENV,
        capture_output=True,
        text=True,
        check=True,
    )
    in_process = float(done.stdout)
    exim = exim_bv(debian, runs * 3)
    if exim is None:
        print(f"  read + convert in-process         {in_process:.3f} s   (no exim: run make test-deps)")
        return
    print(f"  exim -C FILE -bV                  {exim:.3f} s")
    print(f"  read + convert in-process         {in_process:.3f} s   {in_process / exim:.2f}x exim (target 3x)")


def exim_bv(config: Path, runs: int) -> float | None:
    """Median seconds of exim 4.100 checking the file, run inside its root's mount namespace (no wrapper counted)."""
    exim = EXIM_ROOT / "opt/exim4/usr/sbin/exim4"
    if not exim.exists() or os.geteuid() != 0:
        return None
    script = (
        'for d in etc usr var; do mount --bind "$1/$d" "/$d" || exit 126; done; '
        f"for i in $(seq {runs}); do s=$(date +%s%N); {exim} -C {config} -bV >/dev/null || exit 1; "
        "e=$(date +%s%N); echo $((e - s)); done"
    )
    done = subprocess.run(
        [*PIN, "unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", str(EXIM_ROOT)],
        capture_output=True,
        text=True,
        check=True,
    )
    return statistics.median(int(n) for n in done.stdout.split()) / 1e9


def machine() -> str:
    """The date and the machine's size, as the README quotes them."""
    info = {}
    for name in ("/proc/meminfo", "/proc/cpuinfo"):
        for line in Path(name).read_text().splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    memory = int(info.get("MemTotal", "0 kB").split()[0]) / 1024 / 1024
    model = info.get("model name", platform.processor())
    return f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores ({model}), {memory:.0f} GB"


def main() -> None:
    quick = "--quick" in sys.argv
    print(f"bench/bench_scale.py on {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        workdir.chmod(0o755)  # exim reads the configuration as its own user
        startup(workdir, 3 if quick else 7)
        sizes = (2_000, 20_000) if quick else (20_000, 200_000)
        verify = not quick and "--no-verify" not in sys.argv and (EXIM_ROOT / "usr/sbin/smtpd").exists()
        scale(workdir, sizes, 1 if quick else 3, with_verify=verify)


if __name__ == "__main__":
    main()
