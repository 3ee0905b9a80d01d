"""Render the mail-policy model to smtpd.conf (OpenSMTPD 6.4+ grammar).

Ordering, quoting and naming are decided here, in Python; the Jinja template
only lays the blocks out.  Every name and value is double-quoted, because
smtpd's grammar has many reserved words (``table senders`` is a syntax error).
The same policy always renders to the same bytes.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import jinja2

from migrate.errors import Span
from migrate.model import Action, Content, Finding, Listener, MatchRule, Policy, Table
from migrate.platforms import platform as get_platform


@dataclass
class Block:
    """Lines of smtpd.conf with the comments that introduce them."""

    comments: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


def quote(value: str) -> str:
    """Double-quote a name or value for smtpd.conf."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


MAX_CITED = 12


def cite(origin: tuple[Span, ...]) -> str:
    """``configure:11, configure:13`` for a block's exim sources (the first dozen; the report has all)."""
    seen = dict.fromkeys(f"{os.path.basename(span.file)}:{span.line}" for span in origin if span.line)
    cited = list(seen)
    if len(cited) > MAX_CITED:
        return ", ".join(cited[:MAX_CITED]) + f" and {len(cited) - MAX_CITED} more"
    return ", ".join(cited)


def _template_dir() -> Path:
    packaged = resources.files("migrate").joinpath("templates")
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "templates"


@functools.cache
def make_env() -> jinja2.Environment:
    """The one Jinja environment: strict, unescaped, newline-faithful."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_template_dir())),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        bytecode_cache=_bytecode_cache(),
    )


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """Compiled templates kept in the user's cache directory: compiling them is a tenth of a CLI run.

    Entries are keyed by the template's checksum, so an upgrade never reads a
    stale one; without a writable cache directory templates are compiled each run.
    """
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    directory = os.path.join(base, "exim2smtpd", "templates")
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
    except OSError:
        return None
    return jinja2.FileSystemBytecodeCache(directory) if os.access(directory, os.W_OK) else None


def render_smtpd_conf(policy: Policy) -> str:
    """The complete smtpd.conf text for a policy."""
    gaps = _gaps_by_place(policy)
    blocks = [
        *_with_gaps(_tables(policy), gaps["table"]),
        *_pki(policy),
        *_filters(policy),
        *_with_gaps(_globals(policy), gaps["global"]),
        *_with_gaps([_listen(policy)], gaps["listen"]),
        *_with_gaps(_actions(policy), gaps["action"]),
        *_with_gaps([_matches(policy)], gaps["match"]),
    ]
    template = make_env().get_template("opensmtpd/smtpd.conf.j2")
    text = template.render(
        target=get_platform(policy.platform).label + f"; install as {get_platform(policy.platform).smtpd_conf}",
        source=os.path.basename(policy.source),
        blocks=[b for b in blocks if b.lines or b.comments],
    )
    return text if text.endswith("\n") else text + "\n"


def _table_block(table: Table, platform: str) -> Block:
    block = Block([f"{cite(table.origin)}: {_TABLE_WHAT[table.kind]}"] if table.origin else [_TABLE_WHAT[table.kind]])
    name = quote(table.name)
    if table.backend:
        block.lines.append(f"table {name} {quote(table.backend + ':' + table.file)}")
        return block
    if table.file:
        block.lines.append(f"table {name} {quote('file:' + table.file)}")
        return block
    values = [f"{quote(k)} = {quote(v)}" for k, v in table.mapping] or [quote(e) for e in table.entries]
    if not values:
        block.comments.append("(empty in exim: nothing can match it)")
        return block
    if get_platform(platform).multiline_tables:  # OpenSMTPD 7.5+ takes a table over several lines
        block.lines += [f"table {name} {{"] + [f"\t{v}," for v in values[:-1]] + [f"\t{values[-1]}", "}"]
    else:  # 6.8, still packaged by Debian 12, needs one line: continue it with "\"
        block.lines.append(f"table {name} {{ \\")
        block.lines += [f"\t{v}, \\" for v in values[:-1]] + [f"\t{values[-1]} \\", "}"]
    return block


_TABLE_WHAT = {
    "domains": "domains",
    "networks": "networks",
    "routes": "next hop per relay domain",
    "aliases": "aliases file (same format for smtpd)",
    "virtual": "per-domain alias files as one virtual table",
    "credentials": "smarthost credentials (a separate file, mode 0600)",
    "addresses": "addresses",
}


def _tables(policy: Policy) -> list[Block]:
    return [_table_block(t, policy.platform) for t in policy.tables if t.file or t.entries or t.mapping]


def _pki(policy: Policy) -> list[Block]:
    blocks = []
    for cert in policy.certificates:
        name = quote(cert.name)
        origin = cert.origin + policy.identity.origin[:1]  # the certificate, and the host name it is for
        blocks.append(
            Block(
                [f"{cite(origin)}: TLS certificate"],
                [f"pki {name} cert {quote(cert.cert)}", f"pki {name} key {quote(cert.key)}"],
            )
        )
    return blocks


def _globals(policy: Policy) -> list[Block]:
    limits = policy.limits
    block = Block([f"{cite(limits.origin)}: limits" if cite(limits.origin) else "limits (exim's defaults)"])
    if limits.max_message_size:
        block.lines.append(f"smtp max-message-size {limits.max_message_size}")
    if limits.queue_ttl:
        block.lines.append(f"queue ttl {limits.queue_ttl}")
    if limits.bounce_warn_interval:
        block.lines.append(f"bounce warn-interval {limits.bounce_warn_interval}")
    return [block] if block.lines else []


def _chain_name(names: tuple[str, ...]) -> str:
    return "_".join(names)


def _filter_ref(names: tuple[str, ...]) -> str:
    return f" filter {quote(names[0] if len(names) == 1 else _chain_name(names))}" if names else ""


def _filters(policy: Policy) -> list[Block]:
    if not policy.filters:
        return []
    block = Block(["content filtering: rspamd does what exim's ACLs did; filter-dkimsign signs outbound mail"])
    for f in policy.filters:
        line = f"filter {quote(f.name)} proc-exec {quote(f.command)}"
        if f.user:
            line += f" user {quote(f.user)}"
        if f.group:
            line += f" group {quote(f.group)}"
        block.lines.append(line)
    chains = {li.filters for li in policy.listeners if len(li.filters) > 1}
    for names in sorted(chains):
        block.lines.append(f"filter {quote(_chain_name(names))} chain {{ {', '.join(quote(n) for n in names)} }}")
    return [block]


def _listen_line(listener: Listener) -> str:
    where = listener.address if listener.address == "all" else quote(listener.address)
    port = "submission" if listener.port == 587 else str(listener.port)
    parts = [f"listen on {where} port {port}"]
    if listener.tls == "starttls":
        parts.append("tls")
    elif listener.tls == "smtps":
        parts.append("smtps")
    if listener.pki:
        parts.append(f"pki {quote(listener.pki)}")
    if listener.auth == "optional":
        parts.append("auth-optional")
    elif listener.auth == "required":
        parts.append("auth")
    return " ".join(parts) + _filter_ref(listener.filters)


def _listen(policy: Policy) -> Block:
    origin = tuple(span for listener in policy.listeners for span in listener.origin)
    block = Block(
        [f"{cite(origin)}: where exim listened" if cite(origin) else "exim's default: port 25 on every address"]
    )
    block.lines.append("listen on socket" + _filter_ref(policy.socket_filters))
    block.lines += [_listen_line(listener) for listener in policy.listeners]
    return block


def _action_line(action: Action) -> str:
    name = quote(action.name)
    if action.method == "relay":
        line = f"action {name} relay"
        if action.relay_domain_table:
            line += f" domain <{action.relay_domain_table}>"
        elif action.relay_host:
            line += f" host {quote(action.relay_host)}"
            if action.auth_table:
                line += f" auth <{action.auth_table}>"
        return line
    method = {
        "mbox": "mbox",
        "maildir": f"maildir {quote(action.path)}" if action.path else "maildir",
        "lmtp": f"lmtp {quote(action.path)} rcpt-to",
        "mda": f"mda {quote(action.path)}",
    }[action.method]
    line = f"action {name} {method}"
    if action.virtual_table:
        line += f" virtual <{action.virtual_table}>"
    elif action.alias_table:
        line += f" alias <{action.alias_table}>"
    return line


def _actions(policy: Policy) -> list[Block]:
    return [
        Block([f"{cite(a.origin)}: {_ACTION_WHAT.get(a.name, a.name)}"] if cite(a.origin) else [], [_action_line(a)])
        for a in policy.actions
    ]


_ACTION_WHAT = {
    "local": "local delivery",
    "relay_domains": "relay domains to their own mail hosts",
    "outbound": "everything else goes out",
    "virtual": "local delivery through the per-domain alias files",
}


def _match_line(rule: MatchRule) -> str:
    source = {
        "any": "from any",
        "local": "from local",
        "socket": "from socket",
        "auth": "auth from any",
        "src": f"from src <{rule.source_table}>",
    }[rule.source]
    destination = {"any": "for any", "local": "for local", "domain": f"for domain <{rule.destination_table}>"}[
        rule.destination
    ]
    decision = f"action {quote(rule.action)}" if rule.action else "reject"
    return f"match {source} {destination} {decision}"


def _matches(policy: Policy) -> Block:
    block = Block(["who may send where: first match wins, and anything unmatched is refused"])
    block.lines += [_match_line(rule) for rule in policy.rules]
    if not policy.rules:
        block.comments.append("exim accepted no recipient class that could be migrated: nothing is accepted")
        block.lines.append("match from any for any reject")
    return block


# Where an unmapped statement would have gone, by the kind of exim construct.
_PLACES = (
    ("EXIM-ACL", "match"),
    ("EXIM-CONTENT", "match"),
    ("EXIM-ROUTER", "action"),
    ("EXIM-TRANSPORT", "action"),
    ("EXIM-DRIVER", "action"),
    ("EXIM-ALIASES", "action"),
    ("EXIM-AUTH", "listen"),
    ("EXIM-LISTEN", "listen"),
    ("EXIM-TLS", "listen"),
    ("EXIM-LIST", "table"),
)


def _gaps_by_place(policy: Policy) -> dict[str, list[str]]:
    places: dict[str, list[str]] = {"table": [], "global": [], "listen": [], "action": [], "match": []}
    for finding in policy.findings:
        if finding.severity != "unmapped":
            continue
        place = next((p for prefix, p in _PLACES if finding.rule.startswith(prefix)), "global")
        places[place].append(_gap(finding))
    return places


def _with_gaps(blocks: list[Block], gaps: list[str]) -> list[Block]:
    """Put the not-migrated notes in front of the section they belong to."""
    if not gaps:
        return blocks
    note = Block(["exim statements that would go here but are not migrated (see the report):", *gaps])
    return [note, *blocks]


def _gap(finding: Finding) -> str:
    where = (
        f"{os.path.basename(finding.span.file)}:{finding.span.line}"
        if finding.span.line
        else os.path.basename(finding.span.file)
    )
    return f"exim {where} not migrated [{finding.rule}]: {finding.message}"


# rspamd 3.x's modules.d file names (plus actions.conf): a misspelt local.d file
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
        "spf",
        "whitelist",
    )
)


def render_rspamd(policy: Policy) -> dict[str, str]:
    """The rspamd ``local.d`` files this policy needs, by relative path."""
    content = policy.content
    if not content.needs_rspamd:
        return {}
    env = make_env()
    env.globals["cite"] = cite
    values = {
        "source": os.path.basename(policy.source),
        "spam": content.spam,
        "antivirus": content.antivirus,
        "dnsbls": content.dnsbls,
        "forced": content.forced,
        "ratelimits": content.ratelimits,
        "dkim": content.dkim,
        "greylist": content.greylist,
        "multimaps": content.multimaps,
    }
    wanted = ["actions", "greylist"]
    wanted += ["antivirus"] if content.antivirus else []
    wanted += ["rbl"] if content.dnsbls else []
    wanted += ["force_actions"] if content.forced else []
    wanted += ["ratelimit"] if content.ratelimits else []
    wanted += ["dkim_signing"] if content.dkim and content.dkim.per_domain else []
    wanted += ["milter_headers"] if content.spam_headers else []
    wanted += ["multimap"] if content.multimaps else []
    wanted += ["redis"] if content.ratelimits or content.greylist == "rspamd" else []
    files = {}
    for name in wanted:
        assert name in RSPAMD_FILES, name
        text = env.get_template(f"rspamd/local.d/{name}.conf.j2").render(**values)
        files[f"rspamd/local.d/{name}.conf"] = text if text.endswith("\n") else text + "\n"
    for rule in content.multimaps:
        files[f"rspamd/local.d/maps.d/{rule.name.lower()}.map"] = "".join(f"{e}\n" for e in rule.entries)
    return files


def render_table_files(policy: Policy) -> dict[str, str]:
    """Table files for lists exim read from lookup files: one entry per line (IPv6 bracketed, as 7.x wants)."""
    files = {}
    for table in policy.tables:
        if table.backend:
            files[os.path.basename(table.file)] = table.backend_config
        elif table.generated:
            lines = [f"[{e}]" if table.kind == "networks" and ":" in e else e for e in table.entries]
            lines += [f"{key} {value}" for key, value in table.mapping]
            files[os.path.basename(table.file)] = "".join(f"{line}\n" for line in lines)
    return files


def render_migration(policy: Policy, grade: str, manual: list[str]) -> str:
    """MIGRATION.md: the ordered steps for this configuration on this platform."""
    pack = get_platform(policy.platform)
    content = policy.content
    rspamd = content.needs_rspamd
    dkimsign = any(f.name == "dkimsign" for f in policy.filters)
    packages = list(pack.packages_base)
    if rspamd:
        packages += list(pack.packages_rspamd)
    if dkimsign:
        packages.append(pack.package_dkimsign)
    for backend in sorted({t.backend for t in policy.tables if t.backend}):
        package = _backend_package(pack.name, backend)
        if package not in packages:
            packages.append(package)
    scanners = []
    if content.antivirus:
        scanners.append(
            "clamd"
            if pack.name == "openbsd"
            else "clamav-daemon"
            if pack.name in ("debian", "linux")
            else "clamav_clamd"
        )
    if content.spam:
        scanners.append("spamassassin" if pack.name != "freebsd" else "sa-spamd")
    start = ["smtpd" if pack.name != "debian" and pack.name != "linux" else "opensmtpd"]
    if rspamd:
        start = ["redis" if pack.name != "debian" and pack.name != "linux" else "redis-server", "rspamd", *start]
    aliases = next((t.file for t in policy.tables if t.kind == "aliases"), "")
    text = (
        make_env()
        .get_template("docs/MIGRATION.md.j2")
        .render(
            source=os.path.basename(policy.source),
            p=pack,
            grade=grade,
            manual=manual,
            rcvar=_rcvar,
            table_files=sorted(render_table_files(policy)),
            secret_files={os.path.basename(t.file) for t in policy.tables if t.secret},
            packages=packages,
            scanners=scanners,
            stop_services=[pack.exim_service, *scanners],
            rspamd_files=sorted(n for n in render_rspamd(policy) if n.endswith(".conf")) if rspamd else [],
            aliases=aliases,
            dkim_key=content.dkim.key if content.dkim and dkimsign else "",
            start_services=start,
            remove_packages=tuple(_scanner_packages(pack.name, content)),
        )
    )
    return text if text.endswith("\n") else text + "\n"


def _backend_package(platform: str, backend: str) -> str:
    """The package with an SQL table backend: OpenBSD splits opensmtpd-extras by database."""
    if platform == "openbsd" and backend in ("mysql", "postgres"):
        return {"mysql": "opensmtpd-extras-mysql", "postgres": "opensmtpd-extras-pgsql"}[backend]
    return "opensmtpd-extras"


def _scanner_packages(platform: str, content: Content) -> list[str]:
    """The scanner packages exim used, by their name on the platform."""
    names = {"openbsd": ("clamav", "p5-Mail-SpamAssassin"), "freebsd": ("clamav", "spamassassin")}
    clamav, spamassassin = names.get(platform, ("clamav-daemon", "spamassassin"))
    return ([clamav] if content.antivirus else []) + ([spamassassin] if content.spam else [])


def _rcvar(service: str) -> str:
    """FreeBSD's rc.conf variable for a service (sa-spamd's is spamd)."""
    return {"sa-spamd": "spamd"}.get(service, service).replace("-", "_")
