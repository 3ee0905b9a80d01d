"""The render stage: the mail-policy model in, the files to write out, and where each exim statement went.

``render`` returns a ``Rendered``: the files (smtpd.conf, table files, rspamd
local.d), which of them hold secrets, and a source map from every exim
statement to the output lines produced for it, each with the effect it has.
The report, ``diff``, ``check`` and ``verify`` use it; nothing downstream
parses generated comments or guesses file names. MIGRATION.md needs the
report's verdict and is rendered after it (``render_migration``).
"""

from __future__ import annotations

from migrate.errors import Span
from migrate.model import Policy
from migrate.render.base import Rendered, Target
from migrate.render.migration import render_migration
from migrate.render.rspamd import RSPAMD_FILES, render_rspamd
from migrate.render.smtpd import render_smtpd_conf
from migrate.render.tables import render_table_files, secret_files


def render(policy: Policy) -> Rendered:
    """Every file the policy needs, and the source map of what each exim statement became."""
    source_map: dict[Span, list[Target]] = {}
    files = {
        "smtpd.conf": render_smtpd_conf(policy, source_map),
        **render_table_files(policy, source_map),
        **render_rspamd(policy, source_map),
    }
    return Rendered(files, secret_files(policy), {span: tuple(t) for span, t in source_map.items()})


def with_migration(rendered: Rendered, text: str) -> Rendered:
    """The rendered files plus MIGRATION.md (which cites no exim statement: it is steps, not config)."""
    return Rendered({**rendered.files, "MIGRATION.md": text}, rendered.secret, rendered.source_map)


__all__ = ["RSPAMD_FILES", "Rendered", "Target", "render", "render_migration", "with_migration"]
