"""Time the reader on Debian's generated internet configuration (about 960 lines).

Prints figures; it is not a test. Usage:
    python bench/bench_reader.py [CONFIGURE]   # default: generate Debian's config
The default needs the exim packages unpacked by `make test-deps` (EXIM_ROOT).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from migrate.reader import read_config  # noqa: E402

SETTINGS = {
    "dc_eximconfig_configtype": "internet",
    "dc_other_hostnames": "example.org;example.com",
    "dc_local_interfaces": "",
    "dc_readhost": "",
    "dc_relay_domains": "relay.example.net",
    "dc_minimaldns": "false",
    "dc_relay_nets": "192.0.2.0/24;2001:db8::/32",
    "dc_smarthost": "",
    "CFILEMODE": "644",
    "dc_use_split_config": "false",
    "dc_hide_mailname": "",
    "dc_mailname_in_oh": "true",
    "dc_localdelivery": "mail_spool",
}


def debian_internet_config(workdir: Path) -> Path:
    """Generate Debian's internet config with Debian's own update-exim4.conf, reading nothing of this host's /etc."""
    from tests.conftest import debian_script  # the tests' way: no /etc/mailname, no Debian-exim group needed

    exim_root = Path(os.environ.get("EXIM_ROOT", ROOT / ".cache" / "roots" / "unstable" / "opt" / "exim4"))
    conf = workdir / "conf"
    shutil.copytree(exim_root / "etc/exim4", conf)
    (conf / "update-exim4.conf.conf").write_text("".join(f"{k}='{v}'\n" for k, v in SETTINGS.items()))
    (workdir / "etc").mkdir(exist_ok=True)
    (workdir / "etc/hostname").write_text("mx.example.org\n")
    (workdir / "etc/mailname").write_text("mx.example.org\n")
    script = debian_script(SimpleNamespace(root=exim_root), workdir, workdir / "etc/mailname")  # type: ignore[arg-type]
    out = workdir / "internet.conf"
    subprocess.run(["sh", str(script), "-d", str(conf), "-o", str(out)], check=True, capture_output=True)
    out.chmod(0o644)
    return out


def main() -> None:
    """Read the config repeatedly and print the median time and throughput."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(sys.argv[1]) if len(sys.argv) > 1 else debian_internet_config(Path(tmp))
        lines = len(path.read_text().splitlines())
        read_config(str(path))  # warm up: imports, grammar construction
        times = []
        for _ in range(20):
            start = time.perf_counter()
            read_config(str(path))
            times.append(time.perf_counter() - start)
    median = statistics.median(times)
    print(f"file: {path.name} ({lines} lines)")
    print(f"read_config: median {median * 1000:.1f} ms, best {min(times) * 1000:.1f} ms over {len(times)} runs")
    print(f"throughput: {lines / median:,.0f} lines/s")


if __name__ == "__main__":
    main()
