"""Table files beside smtpd.conf: lists exim read from lookup files, SQL backend configurations, secrets."""

from __future__ import annotations

import os

from migrate.errors import Span
from migrate.model import Policy
from migrate.render.base import Target, whole_file


def render_table_files(policy: Policy, source_map: dict[Span, list[Target]] | None = None) -> dict[str, str]:
    """Table files for lists exim read from lookup files: one entry per line (IPv6 bracketed, as 7.x wants)."""
    files = {}
    for table in policy.tables:
        name = os.path.basename(table.file)
        if table.backend:
            files[name] = table.backend_config
        elif table.generated:
            lines = [f"[{e}]" if table.kind == "networks" and ":" in e else e for e in table.entries]
            lines += [f"{key} {value}" for key, value in table.mapping]
            files[name] = "".join(f"{line}\n" for line in lines)
        else:
            continue
        if source_map is not None:
            whole_file(name, files[name], table.origin, "table-file", source_map)
    return files


def secret_files(policy: Policy) -> frozenset[str]:
    """Output files holding passwords: written 0600, never shown."""
    return frozenset(os.path.basename(t.file) for t in policy.tables if t.secret)
