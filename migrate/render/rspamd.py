"""Render rspamd ``local.d`` files: what exim's content checks become (spam, virus, DNSBL, limits, DKIM).

Each module file carries out the exim statements of its part of the content
policy; the source map points each of them at its module's file.
"""

from __future__ import annotations

from migrate.errors import Span
from migrate.model import SIGN_ONLY, Content, Policy
from migrate.render.base import Target, finished, generated_by, make_env, whole_file

# rspamd's modules.d file names (plus actions.conf and settings.conf): a misspelt local.d file
# is silently ignored by rspamd, so we only ever write names from this list.
RSPAMD_FILES = frozenset(
    (
        "actions",
        "antivirus",
        "arc",
        "asn",
        "dkim",
        "dkim_signing",
        "dmarc",
        "force_actions",
        "greylist",
        "milter_headers",
        "multimap",
        "ratelimit",
        "rbl",
        "redis",
        "settings",
        "spf",
        "whitelist",
    )
)


def _modules(content: Content) -> dict[str, tuple[Span, ...]]:
    """The module files this content policy needs, with the exim statements each one carries out."""
    spam = content.spam.origin if content.spam else ()
    greylists = content.greylisting if content.greylist == "rspamd" else ()
    wanted: dict[str, tuple[Span, ...]] = {"actions": spam, "greylist": greylists} if content.scans else {}
    if content.antivirus:
        wanted["antivirus"] = content.antivirus.origin
    if content.dnsbls:
        wanted["rbl"] = tuple(s for d in content.dnsbls for s in d.origin)
    if content.forced:
        wanted["force_actions"] = tuple(s for f in content.forced for s in f.origin)
    if content.ratelimits:
        wanted["ratelimit"] = tuple(s for r in content.ratelimits for s in r.origin)
    if content.dkim:
        wanted["dkim_signing"] = content.dkim.origin
        wanted["settings"] = content.dkim.origin
    if content.spam_headers:
        wanted["milter_headers"] = content.headers_origin
    if content.multimaps:
        wanted["multimap"] = tuple(s for m in content.multimaps for s in m.origin)
    if content.ratelimits or content.greylist == "rspamd":
        wanted["redis"] = ()
    return wanted


def render_rspamd(policy: Policy, source_map: dict[Span, list[Target]] | None = None) -> dict[str, str]:
    """The rspamd ``local.d`` files this policy needs, by relative path."""
    content = policy.content
    if not content.needs_rspamd:
        return {}
    env = make_env()
    values = {
        "generated": generated_by(policy),
        "spam": content.spam,
        "antivirus": content.antivirus,
        "dnsbls": content.dnsbls,
        "forced": content.forced,
        "ratelimits": content.ratelimits,
        "dkim": content.dkim,
        "greylist": content.greylist,
        "multimaps": content.multimaps,
        "scans": content.scans,
        "sign_only": SIGN_ONLY,
    }
    files = {}
    for name, origin in _modules(content).items():
        assert name in RSPAMD_FILES, name
        path = f"rspamd/local.d/{name}.conf"
        files[path] = finished(env.get_template(f"rspamd/local.d/{name}.conf.j2").render(**values))
        if source_map is not None:
            whole_file(path, files[path], origin, f"rspamd:{name}", source_map)
    for rule in content.multimaps:
        path = f"rspamd/local.d/maps.d/{rule.name.lower()}.map"
        files[path] = "".join(f"{e}\n" for e in rule.entries)
        if source_map is not None:
            whole_file(path, files[path], rule.origin, "rspamd:multimap", source_map)
    return files
