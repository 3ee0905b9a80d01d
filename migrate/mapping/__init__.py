"""The mapping stage: an exim parse tree in, a mail-policy model out.

``build_policy`` never widens who may send where: every client class is
given exactly the recipient classes exim accepts for it (see ``acl`` for how
undecidable conditions are resolved), and every statement it reads ends up
mapped, approximated, ignored on purpose, or reported as unmapped.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from migrate.errors import Span
from migrate.lookups import domain_keys, dsearch_keys, lsearch_entries, lsearch_keys, sql_domain_table, under
from migrate.mapping.acl import ACCEPT, AclEvaluator, Note
from migrate.mapping.classes import ClassUniverse
from migrate.mapping.content import ContentMapper
from migrate.mapping.listeners import ListenerNotes, certificate, listeners
from migrate.mapping.routing import Delivery, Router, VirtualFiles
from migrate.model import (
    ANY_DOMAIN,
    ANYONE,
    AUTHENTICATED,
    LOCAL_CLIENT,
    LOCAL_DOMAINS,
    RECIPIENT_CLASSES,
    RELAY_DOMAINS,
    Action,
    ClientClass,
    Content,
    Decision,
    Filter,
    Finding,
    Identity,
    Limits,
    Listener,
    MatchRule,
    Policy,
    Table,
)
from migrate.platforms import PLATFORMS as PLATFORM_PACKS
from migrate.redact import redact_source, redact_text
from migrate.platforms import platform as get_platform
from migrate.reader.lists import ListItem, parse_list, split_list
from migrate.reader.tree import (
    Acl,
    AclCondition,
    AclStatement,
    Driver,
    EximConfig,
    MacroDefinition,
    NamedList,
    Option,
    Statement,
)

PLATFORMS = tuple(PLATFORM_PACKS)
GREYLIST_CHOICES = ("off", "rspamd")

# Main options that only concern exim itself (logging, its own processes and
# files): irrelevant once smtpd runs, so ignored on purpose.
IGNORED_OPTIONS = {
    "exim_path": "exim's own binary",
    "keep_environment": "exim's environment handling",
    "add_environment": "exim's environment handling",
    "log_selector": "exim's log format",
    "log_file_path": "exim's logs",
    "syslog_duplication": "exim's logs",
    "syslog_facility": "exim's logs",
    "syslog_processname": "exim's logs",
    "syslog_timestamp": "exim's logs",
    "write_rejectlog": "exim's logs",
    "message_logs": "exim's logs",
    "never_users": "exim's delivery privileges",
    "trusted_users": "exim's -f trust",
    "trusted_groups": "exim's -f trust",
    "admin_groups": "exim's admin users",
    "exim_user": "exim's own user",
    "exim_group": "exim's own group",
    "spool_directory": "exim's spool",
    "split_spool_directory": "exim's spool",
    "gecos_pattern": "exim's From: header names",
    "gecos_name": "exim's From: header names",
    "host_lookup": "smtpd looks up every client's name itself",
    "rfc1413_hosts": "ident lookups",
    "rfc1413_query_timeout": "ident lookups",
    "check_spool_space": "exim's spool",
    "check_log_space": "exim's logs",
    "check_spool_inodes": "exim's spool",
    "check_log_inodes": "exim's logs",
    "dns_dnssec_ok": "resolver setting",
    "prdr_enable": "PRDR (smtpd does not offer it)",
    "local_from_check": "exim's local sender checks",
    "local_sender_retain": "exim's local sender checks",
    "untrusted_set_sender": "exim's local sender checks",
    "freeze_tell": "exim's frozen messages",
    "smtputf8_advertise_hosts": "SMTPUTF8 advertising",
    "queue_run_max": "exim's queue runners",
    "remote_max_parallel": "exim's delivery parallelism",
    "print_topbitchars": "exim's logs",
    "timeout_frozen_after": "smtpd has no frozen messages; queue ttl bounds every message",
    "ignore_bounce_errors_after": "smtpd has no frozen bounces; queue ttl bounds them",
    "auth_advertise_hosts": "smtpd offers AUTH only after STARTTLS, as this setting usually asks",
    "tls_advertise_hosts": "smtpd offers STARTTLS on every tls listener",
}
# Main options with a known reason for not mapping, and what to do instead.
KNOWN_UNMAPPED = {
    "av_scanner": (
        "EXIM-CONTENT-AV",
        "virus scanning is done by rspamd's antivirus module with OpenSMTPD",
        "configure rspamd's antivirus.conf and filter-rspamd (a later release writes them)",
    ),
    "spamd_address": (
        "EXIM-CONTENT-SPAM",
        "spam scanning is done by rspamd with OpenSMTPD",
        "configure rspamd's actions.conf and filter-rspamd (a later release writes them)",
    ),
    "system_filter": ("EXIM-SYSTEM-FILTER", "smtpd has no system filter", "rewrite it as rspamd rules or a filter"),
    "smtp_banner": ("EXIM-BANNER", "smtpd's banner is fixed ('ESMTP OpenSMTPD')", "accept the change"),
    "helo_verify_hosts": ("EXIM-HELO-VERIFY", "smtpd does not verify HELO names", "use rspamd's hfilter module"),
    "host_reject_connection": (
        "EXIM-HOST-REJECT",
        "not migrated yet",
        "add 'filter ... phase connect match src <table> disconnect' by hand",
    ),
    "local_scan_timeout": ("EXIM-LOCAL-SCAN", "smtpd has no local_scan", "use a filter"),
}
MAIN_MAPPED = frozenset(
    (
        "primary_hostname",
        "daemon_smtp_ports",
        "daemon_smtp_port",
        "local_interfaces",
        "tls_on_connect_ports",
        "tls_certificate",
        "tls_privatekey",
        "message_size_limit",
        "acl_smtp_rcpt",
        "acl_smtp_connect",
        "acl_smtp_helo",
        "acl_smtp_mail",
        "acl_smtp_predata",
        "acl_smtp_data",
        "acl_not_smtp",
        "delay_warning",
    )
)
PRE_RCPT_ACLS = ("acl_smtp_connect", "acl_smtp_helo", "acl_smtp_mail", "acl_smtp_predata", "acl_smtp_data")
DEFAULT_SIZE = "50M"  # exim's default message_size_limit


@dataclass
class _Accountant:
    """Keeps every statement in exactly one bucket.

    Findings are kept by (span, rule), and the rules seen per span, so that
    replacing one costs the same with five ACL statements or five thousand.
    """

    status: dict[int, tuple[Statement, str]] = field(default_factory=dict)
    _findings: dict[tuple[Span, str], Finding] = field(default_factory=dict)
    _rules_at: dict[Span, set[str]] = field(default_factory=dict)

    @property
    def findings(self) -> list[Finding]:
        """Every finding, in the order it was last set."""
        return list(self._findings.values())

    def mark(self, node: Statement, severity: str, rule: str = "", message: str = "", advice: str = "") -> None:
        """Put a statement in a bucket; a worse bucket wins over a better one."""
        order = {"mapped": 0, "ignored": 1, "approximated": 2, "unmapped": 3}
        previous = self.status.get(id(node))
        if previous is not None and order[previous[1]] >= order[severity]:
            return
        self.status[id(node)] = (node, severity)
        if severity != "mapped" and message:
            self._drop(node.span, rule)
            self._add(Finding(node.span, severity, rule, message, node.source, advice))

    def resolve(self, node: Statement, severity: str, rule: str = "", message: str = "", advice: str = "") -> None:
        """A later stage settles a statement: its bucket and finding replace earlier ones."""
        self.status[id(node)] = (node, severity)
        if not rule:
            return  # a child settled with its parent: the parent's finding stands
        for old in list(self._rules_at.get(node.span, ())):
            self._drop(node.span, old)
        if severity != "mapped" and message:
            self._add(Finding(node.span, severity, rule, message, node.source, advice))

    def mark_driver(self, driver: Driver, severity: str, rule: str = "", message: str = "", advice: str = "") -> None:
        """A driver and all its options share one bucket and one finding."""
        self.mark(driver, severity, rule, message, advice)
        for option in driver.options:
            self.mark(option, severity)

    def note_span(self, span: Span, severity: str, rule: str, message: str, source: str = "", advice: str = "") -> None:
        """A finding that belongs to a span rather than a whole statement."""
        if (span, rule) not in self._findings:
            self._add(Finding(span, severity, rule, message, source, advice))

    def _add(self, finding: Finding) -> None:
        # messages quote list items and sources: never a password (migrate.redact)
        finding = replace(
            finding,
            message=redact_text(finding.message),
            source=redact_source(finding.source),
            advice=redact_text(finding.advice),
        )
        self._findings[(finding.span, finding.rule)] = finding
        self._rules_at.setdefault(finding.span, set()).add(finding.rule)

    def _drop(self, span: Span, rule: str) -> None:
        if self._findings.pop((span, rule), None) is not None:
            self._rules_at[span].discard(rule)


class _Mapper:
    def __init__(self, config: EximConfig, platform: str, greylist: str = "off", root: str = "/") -> None:
        if platform not in PLATFORMS:
            raise ValueError(f"unknown platform {platform!r}")
        if greylist not in GREYLIST_CHOICES:
            raise ValueError(f"unknown greylist choice {greylist!r}")
        self.config = config
        self.platform = platform
        self.greylist = greylist
        self.root = Path(root)
        self.books = _Accountant()
        self.acls = {a.name: a for a in config.acls}
        self.inline_lists: dict[str, NamedList] = {}
        self.lookup_notes: list[str] = []  # approximations found while reading lookup files
        self.sql_tables: dict[str, Table] = {}  # domain lists' SQL lookups, by table name
        self.domain_tables: dict[str, Table] = {}
        self.blocklists: list[tuple[AclStatement, NamedList]] = []  # "deny hosts = <networks>" at connect..RCPT
        self.used_acls: set[str] = set()

    # -- the whole --------------------------------------------------------------

    def build(self) -> Policy:
        config = self.config
        identity = self._identity()
        client_tables = tuple(self._client_tables())
        self.blocklists = self._find_blocklists()
        universe = ClassUniverse(config, *self._domain_lists(), client_tables, dict(self.inline_lists))
        relay_names = (
            list(self._domain_table("relay_domains", universe.relay_domains, identity).entries)
            if universe.relay_domains
            else []
        )
        if "relay_domains_sql" in self.sql_tables:
            relay_names.append("(the domains of its SQL lookup)")  # no route can be listed for those
        router = Router(config, universe, self.root, relay_names)
        deliveries = router.deliveries()
        auth = self._server_auth()
        clients = self._clients(universe, auth)
        decisions = self._decisions(universe, clients, deliveries)
        tables = self._tables(universe, deliveries, clients, identity)
        actions = self._actions(deliveries, decisions)
        rules = self._rules(clients, decisions, tables, identity)
        if self.blocklists:
            table = self._blocklist_table()
            tables.append(table)
            rules = [self._blocklist_rule(table), *rules]
        virtual = deliveries[LOCAL_DOMAINS].virtual
        if virtual is not None and any(a.name == "local" for a in actions):
            alias_files = [path for path, _ in deliveries[LOCAL_DOMAINS].alias_files]
            virtual_tables = self._virtual_tables(virtual, tables, identity, alias_files)
            if virtual_tables:
                tables += virtual_tables
                actions.append(_virtual_action(virtual, actions))
                rules = _with_virtual_rules(rules, virtual)
        used = {r.source_table for r in rules} | {r.destination_table for r in rules}
        used |= {a.alias_table for a in actions} | {a.relay_domain_table for a in actions}
        used |= {a.virtual_table for a in actions}
        actions, secrets = self._smarthost_credentials(actions, deliveries)
        if secrets is not None:
            tables.append(secrets)
            used.add(secrets.name)
        tables = [t for t in tables if t.name in used]
        listener_notes = ListenerNotes()
        pki = certificate(config, self._pki_name(identity), listener_notes)
        listen = listeners(
            config,
            self.platform,
            pki,
            auth and any(d.client == AUTHENTICATED and d.accept for d in decisions),
            listener_notes,
        )
        limits = self._limits()
        content = self._content(deliveries)
        filters, listen, socket_filters = self._filters(content, listen)
        drivers = {d.span: d for d in (*config.routers, *config.transports)}
        used = {d.span for delivery in deliveries.values() for d in delivery.drivers}
        for note in router.notes:
            if note.span in drivers and note.span not in used:  # why a driver was not migrated: its bucket
                self.books.mark_driver(drivers[note.span], note.severity, note.rule, note.message, note.advice)
            else:
                self.books.note_span(note.span, note.severity, note.rule, note.message, advice=note.advice)
        for span, severity, rule, message in listener_notes.items:
            self.books.note_span(span, severity, rule, message)
        self._account_drivers(deliveries)
        self._account_rest()
        return Policy(
            source=config.path,
            platform=self.platform,
            identity=identity,
            tables=tuple(tables),
            certificates=(pki,) if pki else (),
            listeners=tuple(listen),
            actions=tuple(actions),
            clients=tuple(clients),
            decisions=tuple(decisions),
            rules=tuple(rules),
            limits=limits,
            content=content,
            filters=tuple(filters),
            socket_filters=tuple(socket_filters),
            findings=tuple(sorted(self.books.findings, key=lambda f: (f.span.file, f.span.line, f.span.col, f.rule))),
            accounting=tuple((node.span, self.books.status[id(node)][1]) for node in config.statements()),
        )

    # -- identity and sets --------------------------------------------------------

    def _identity(self) -> Identity:
        options = self.config.options
        hostname = options.get("primary_hostname")
        qualify = options.get("qualify_domain")
        origin = tuple(o.span for o in (hostname, qualify) if o is not None)
        name = hostname.value.text.strip() if hostname and hostname.value else None
        qualify_value = qualify.value.text.strip() if qualify and qualify.value else None
        if qualify is not None:
            self.books.mark(
                qualify,
                "approximated",
                "EXIM-QUALIFY-DOMAIN",
                "smtpd qualifies bare local addresses with the server name, not qualify_domain",
                "set the server name (hostname / /etc/mailname) to the qualify domain if they differ",
            )
        return Identity(name, qualify_value, origin)

    def _domain_lists(self) -> tuple[str | None, str | None]:
        """exim's conventional names; an empty list makes an empty (absent) class."""
        lists = self.config.named_lists
        local = "local_domains" if "local_domains" in lists and lists["local_domains"].items else None
        relay = "relay_to_domains" if "relay_to_domains" in lists and lists["relay_to_domains"].items else None
        return local, relay

    def _client_tables(self) -> list[str]:
        """Host lists an accept statement trusts, named or written inline: each becomes a client class."""
        found: list[str] = []
        for acl in self.config.acls:
            for statement in acl.statements:
                if statement.verb != "accept":
                    continue
                for cond in statement.conditions:
                    if cond.name != "hosts" or cond.negated or cond.value is None:
                        continue
                    inline = self._inline_hosts(cond)
                    if inline is not None and inline.name not in found:
                        found.append(inline.name)
                        continue
                    for name in _named_refs(cond.value.text):
                        if name in self.config.named_lists and self.config.named_lists[name].kind == "host":
                            if name not in found:
                                found.append(name)
        return found

    def _pki_name(self, identity: Identity) -> str:
        """smtpd names a certificate after the host, and only a valid host name will do."""
        name = identity.hostname or "localhost"
        if _HOST_NAME.fullmatch(name):
            return name
        option = self.config.options.get("primary_hostname")
        if option is not None:
            self.books.mark(
                option,
                "approximated",
                "EXIM-HOSTNAME-INVALID",
                f"primary_hostname {name!r} is not a valid host name; the certificate is named 'localhost' in smtpd.conf",
                "set a real host name",
            )
        return "localhost"

    def _find_blocklists(self) -> list[tuple[AclStatement, NamedList]]:
        """``deny hosts = 192.0.2.0/24 : ...`` (nothing else but messages) in the ACLs up to RCPT.

        smtpd cannot split a client class by them, but it can refuse those hosts
        outright with a reject rule ahead of all others. That is exact, or
        stricter where exim accepted some of them in a statement above the deny.
        """
        names: list[str] = []
        for option in (*PRE_RCPT_ACLS[:3], "acl_smtp_rcpt"):
            value = self.config.options.get(option)
            if value is not None and value.value is not None and value.value.text.strip() in self.acls:
                names.append(value.value.text.strip())
        found = []
        for name in dict.fromkeys(names):
            for statement in self.acls[name].statements:
                conditions = [c for c in statement.conditions if not c.modifier]
                if statement.verb not in ("deny", "drop") or len(conditions) != 1:
                    continue
                cond = conditions[0]
                if cond.name != "hosts" or cond.negated or cond.value is None:
                    continue
                inline = self._inline_hosts(cond, prefix="denied_hosts")
                if inline is not None:
                    found.append((statement, inline))
        return found

    def _blocklist_table(self) -> Table:
        """Every denied address and network in one table: one reject rule, however many deny statements."""
        entries: list[str] = []
        for _, named in self.blocklists:
            entries += [
                str(ipaddress.ip_network(i.value, strict=False)) if "/" in i.value else i.value for i in named.items
            ]
            self.books.mark(named, "mapped")
        origin = tuple(statement.span for statement, _ in self.blocklists)
        return Table("denied_hosts", "networks", entries=tuple(dict.fromkeys(entries)), origin=origin)

    def _blocklist_rule(self, table: Table) -> MatchRule:
        for statement, _ in self.blocklists:
            self.books.resolve(
                statement,
                "approximated",
                "EXIM-ACL-DENY-HOSTS",
                "these hosts are refused by a reject rule ahead of all others, also where a statement "
                "above this deny let exim accept them",
                "nothing to do unless such an earlier accept mattered",
            )
            for cond in statement.conditions:
                self.books.resolve(cond, "approximated")
        return MatchRule("src", table.name, "any", None, None, "exim denies these hosts", table.origin)

    def _inline_hosts(self, cond: AclCondition, prefix: str = "trusted_hosts") -> NamedList | None:
        """``accept hosts = <; 192.0.2.0/24 ; ...``: the same as a named list, named after its line."""
        assert cond.value is not None
        if cond.value.expansion is not None:
            return None
        separator, items = parse_list(cond.value.text, "host")
        if not items or not all(i.kind in ("address", "network") and not i.negated for i in items):
            return None
        name = f"{prefix}_line{cond.span.line}"
        named = NamedList(cond.span, cond.source, cond.macros, "host", name, cond.value, separator, items)
        self.inline_lists[name] = named
        return named

    def _server_auth(self) -> bool:
        """True when exim authenticates clients in a way smtpd can: system passwords."""
        usable = False
        for auth in self.config.authenticators:
            condition = auth.option("server_condition")
            if auth.driver == "plaintext" and _uses_pam(condition):
                usable = True
                self.books.mark_driver(auth, "mapped")
                continue
            if auth.option("server_condition") is not None or auth.driver in ("dovecot", "cyrus_sasl"):
                self.books.mark_driver(
                    auth,
                    "unmapped",
                    "EXIM-AUTH-SERVER",
                    f"authenticator {auth.name}: smtpd authenticates against system passwords or a "
                    "table of bcrypt hashes, not this",
                    "create a credentials table with smtpctl encrypt and add 'auth <table>' by hand",
                )
            else:
                self.books.mark_driver(
                    auth,
                    "unmapped",
                    "EXIM-AUTH-CLIENT",
                    f"authenticator {auth.name}: no migrated relay authenticates with it (no smarthost whose "
                    "transport names hosts for AUTH, or no user and password found for that host)",
                    "put passwd.client under --root, or add 'auth <secrets>' to the relay action by hand",
                )
        return usable

    def _smarthost_credentials(
        self, actions: list[Action], deliveries: dict[str, Delivery]
    ) -> tuple[list[Action], Table | None]:
        """exim's client authenticators for a smarthost → smtpd's ``auth <secrets>`` on that relay.

        Only where exim would authenticate: the relay's transport names hosts
        for AUTH and an authenticator yields a user and password for the host,
        literally or from Debian's passwd.client. The password goes into a
        separate table file written 0600; the report says so and never shows it.
        """
        found: list[tuple[str, str]] = []
        out = []
        for action in actions:
            delivery = deliveries[RELAY_DOMAINS if action.name == "relay_domains" else ANY_DOMAIN]
            url = action.relay_host
            router = next((d for d in delivery.drivers if d.kind == "router"), None)
            if action.method != "relay" or not url or router is None or not self._transport_authenticates(router):
                out.append(action)
                continue
            hostport = url.split("://", 1)[1]
            credentials = self._credentials_for(hostport.split(":", 1)[0])
            if credentials is None:
                out.append(action)
                continue
            user, password, authenticator = credentials
            label = f"{action.name}_auth"
            found.append((label, f"{user}:{password}"))
            out.append(replace(action, relay_host=f"smtp+tls://{label}@{hostport}", auth_table="secrets"))
            self.books.resolve(
                authenticator,
                "approximated",
                "EXIM-AUTH-CLIENT-CREDENTIALS",
                f"authenticator {authenticator.name}: the password for {hostport} is in the secrets table "
                "(written 0600, never shown); smtpd sends it only over TLS (smtp+tls), and uses "
                "AUTH PLAIN or LOGIN, whichever the server offers",
                "install the secrets file 0600, owned by root",
            )
            for option in authenticator.options:
                self.books.resolve(option, "approximated")
        if not found:
            return actions, None
        files = get_platform(self.platform).tables_dir
        return out, Table(
            "secrets", "credentials", mapping=tuple(found), file=f"{files}/secrets", generated=True, secret=True
        )

    def _transport_authenticates(self, router: Driver) -> bool:
        option = router.option("transport")
        name = option.value.text.strip() if option is not None and option.value is not None else ""
        transport = next((t for t in self.config.transports if t.name == name), None)
        return transport is not None and any(
            transport.option(o) is not None and transport.option(o).value is not None  # type: ignore[union-attr]
            for o in ("hosts_try_auth", "hosts_require_auth")
        )

    def _credentials_for(self, host: str) -> tuple[str, str, Driver] | None:
        """A user and password some client authenticator of exim's sends to ``host``."""
        for auth in self.config.authenticators:
            texts = " ".join(o.value.text for o in auth.options if o.value is not None and o.name.startswith("client_"))
            passwd_client = _PASSWD_CLIENT.search(texts)
            if passwd_client is not None:
                credentials = self._passwd_client(passwd_client.group(1), host)
            else:
                credentials = _literal_credentials(auth)
            if credentials is not None:
                return (*credentials, auth)
        return None

    def _passwd_client(self, path: str, host: str) -> tuple[str, str] | None:
        """Debian's passwd.client: ``host-pattern:user:password``, first match wins (nwildlsearch)."""
        try:
            entries = lsearch_entries(under(self.root, path))
        except OSError:
            return None
        for key, value in entries:
            pattern = key.lower()
            if pattern in (host.lower(), "*") or (pattern.startswith("*") and host.lower().endswith(pattern[1:])):
                user, _, password = value.partition(":")
                return (user, password) if user and password else None
        return None

    def _clients(self, universe: ClassUniverse, auth: bool) -> list[ClientClass]:
        clients = [ClientClass(LOCAL_CLIENT)]
        for name in universe.client_tables:
            clients.append(ClientClass(name, name, (self._host_list(name).span,)))
        if auth:
            clients.append(ClientClass(AUTHENTICATED))
        clients.append(ClientClass(ANYONE))
        return clients

    # -- decisions --------------------------------------------------------------

    def _acl_names(self, option_name: str) -> list[str] | None:
        """The ACL(s) an ``acl_smtp_*`` option selects; None when we cannot tell."""
        option = self.config.options.get(option_name)
        if option is None or option.value is None:
            return []
        value = option.value
        if value.expansion is None:
            name = value.text.strip()
            if name in self.acls:
                self.books.mark(option, "mapped")
                return [name]
            self.books.mark(
                option,
                "unmapped",
                "EXIM-ACL-INLINE",
                f"{option_name} is not the name of an ACL in this file (inline or file ACL)",
                "move the ACL into the acl section and name it",
            )
            return None
        branches = [g.literal() for item in value.expansion.items("if") for g in item.groups()[-2:]]
        if branches and all(b in self.acls for b in branches):
            self.books.mark(
                option,
                "approximated",
                "EXIM-ACL-PER-PORT",
                f"{option_name} picks an ACL per connection; every class gets only what all of them allow",
                "use listener tags ('listen ... tag NAME', 'match tag NAME ...') to restore per-port rules",
            )
            return [b for b in branches if b]
        self.books.mark(
            option,
            "unmapped",
            "EXIM-ACL-EXPANDED",
            f"{option_name} is chosen by an expansion",
            "name one ACL; until then only the local socket may send mail",
        )
        return None

    def _decisions(
        self, universe: ClassUniverse, clients: list[ClientClass], deliveries: dict[str, Delivery]
    ) -> list[Decision]:
        routable = {r: d.routable for r, d in deliveries.items()}
        evaluator = AclEvaluator(universe, self.acls, routable, frozenset(id(s) for s, _ in self.blocklists))
        rcpt = self._acl_names("acl_smtp_rcpt")
        if rcpt == [] and self.config.options.get("acl_smtp_rcpt") is None:
            self.books.note_span(
                Span(self.config.path, 0, 0, 0, 0),
                "approximated",
                "EXIM-ACL-RCPT-UNSET",
                "acl_smtp_rcpt is not set, so exim refuses every SMTP recipient; only local submissions are migrated",
            )
        pre = {name: self._acl_names(name) for name in PRE_RCPT_ACLS}
        not_smtp = self._acl_names("acl_not_smtp")
        decisions: list[Decision] = []
        verdict_notes: list[tuple[Note, str, str, bool]] = []
        present = {
            LOCAL_DOMAINS: universe.local_domains is not None,
            RELAY_DOMAINS: universe.relay_domains is not None,
            ANY_DOMAIN: True,
        }
        for client in clients:
            for recipient in RECIPIENT_CLASSES:
                if not present[recipient]:
                    decisions.append(Decision(client.name, recipient, False, None))
                    continue
                accepted, origin, notes = self._decide(evaluator, client.name, recipient, rcpt, pre, not_smtp, routable)
                delivery = deliveries[recipient]
                action = _ACTION_NAMES[recipient] if accepted else None
                if accepted and not delivery.routable:
                    accepted, action = False, None
                decisions.append(Decision(client.name, recipient, accepted, action, origin))
                verdict_notes += [(n, client.name, recipient, accepted) for n in notes]
        self._book_notes(verdict_notes)
        self._book_acl_statements()
        return decisions

    def _decide(
        self,
        evaluator: AclEvaluator,
        client: str,
        recipient: str,
        rcpt: list[str] | None,
        pre: dict[str, list[str] | None],
        not_smtp: list[str] | None,
        routable: dict[str, bool],
    ) -> tuple[bool, tuple[Span, ...], list[Note]]:
        notes: list[Note] = []
        if client == LOCAL_CLIENT:
            # smtpd's socket is sendmail(8): exim's non-SMTP path, acl_not_smtp (default accept).
            accepted, origin = self._pass_all(evaluator, not_smtp, client, None, notes)
            return accepted and routable[recipient], origin, notes
        for names in pre.values():
            accepted, origin = self._pass_all(evaluator, names or [], client, None, notes)
            if not accepted:
                return False, origin, notes
        if not rcpt:
            return False, (), notes
        accepted, origin = self._pass_all(evaluator, rcpt, client, recipient, notes)
        return accepted, origin, notes

    def _pass_all(
        self, evaluator: AclEvaluator, names: list[str] | None, client: str, recipient: str | None, notes: list[Note]
    ) -> tuple[bool, tuple[Span, ...]]:
        """Run each ACL in turn; the first that does not accept refuses the class."""
        if names is None:  # an ACL we cannot identify: accept nothing on its word
            return False, ()
        origin: list[Span] = []
        for name in names:
            self.used_acls.add(name)
            verdict = evaluator.run(name, client, recipient)
            notes += verdict.notes
            origin += _origin(verdict.decided_by, self.acls[name])
            if verdict.result != ACCEPT:
                return False, tuple(origin)
        return True, tuple(origin)

    def _book_notes(self, notes: list[tuple[Note, str, str, bool]]) -> None:
        """Report each ACL note once; a conditional accept whose classes are all accepted anyway is harmless."""
        by_statement: dict[int, list[tuple[Note, str, str, bool]]] = {}
        for entry in notes:
            by_statement.setdefault(id(entry[0].statement), []).append(entry)
        for entries in by_statement.values():
            note = entries[0][0]
            if note.rule == "EXIM-ACL-FILTER" and not any(accepted for _, _, _, accepted in entries):
                # It could only refuse mail smtpd refuses anyway: nothing is lost by leaving it out.
                self._mark_statement(note.statement, "mapped")
                continue
            if note.rule == "EXIM-ACL-CONDITIONAL-ACCEPT" and all(accepted for _, _, _, accepted in entries):
                self._mark_statement(
                    note.statement,
                    "approximated",
                    note.rule,
                    note.message.replace(
                        "it is left out", "those recipients are accepted by the general rule for their class anyway"
                    ),
                )
                continue
            self._mark_statement(note.statement, note.severity, note.rule, note.message, note.advice)

    def _mark_statement(
        self, statement: AclStatement, severity: str, rule: str = "", message: str = "", advice: str = ""
    ) -> None:
        self.books.mark(statement, severity, rule, message, advice)
        for cond in statement.conditions:
            self.books.mark(cond, severity)

    def _book_acl_statements(self) -> None:
        for acl in self.config.acls:
            if acl.name not in self.used_acls:
                self.books.mark(acl, "ignored", "EXIM-ACL-UNUSED", f"ACL {acl.name} is never used")
                for statement in acl.statements:
                    self._mark_statement(statement, "ignored")
                continue
            self.books.mark(acl, "mapped")
            for statement in acl.statements:
                if statement.verb == "warn":
                    self._warn(statement)
                else:
                    self._mark_statement(statement, "mapped")

    def _warn(self, statement: AclStatement) -> None:
        effects = [c.name for c in statement.conditions if c.modifier]
        if set(effects) <= {"log_message", "logwrite", "set"}:
            self._mark_statement(statement, "ignored", "EXIM-ACL-WARN-LOG", "warn that only logs: nothing to migrate")
        else:
            self._mark_statement(
                statement,
                "unmapped",
                "EXIM-ACL-WARN",
                f"warn with {', '.join(sorted(set(effects)))}: smtpd adds no headers itself",
                "rspamd's milter_headers module adds headers",
            )

    # -- tables -----------------------------------------------------------------

    def _tables(
        self, universe: ClassUniverse, deliveries: dict[str, Delivery], clients: list[ClientClass], identity: Identity
    ) -> list[Table]:
        tables: list[Table] = []
        local = deliveries[LOCAL_DOMAINS]
        if local.alias_files:
            path, span = local.alias_files[0]
            tables.append(Table("aliases", "aliases", file=path, origin=(span,)))
            for extra, extra_span in local.alias_files[1:]:
                self.books.note_span(
                    extra_span,
                    "unmapped",
                    "EXIM-ALIASES-SECOND",
                    f"a second aliases file ({extra}): smtpd's action takes one alias table",
                    "merge the files",
                )
        for table_name, list_name in (
            ("local_domains", universe.local_domains),
            ("relay_domains", universe.relay_domains),
        ):
            if list_name:
                table = self._domain_table(table_name, list_name, identity)
                if table.entries:
                    tables.append(table)
        routes = deliveries[RELAY_DOMAINS].routes
        if routes:
            tables.append(
                Table(
                    "relay_routes",
                    "routes",
                    mapping=tuple(routes),
                    origin=tuple(d.span for d in deliveries[RELAY_DOMAINS].drivers),
                    sources=tuple(deliveries[RELAY_DOMAINS].route_files),
                )
            )
        for client in clients:
            if client.table:
                tables.append(self._network_table(client.table))
        tables += self.sql_tables.values()
        return tables

    def _domain_table(self, table_name: str, list_name: str, identity: Identity) -> Table:
        """A domain list as an smtpd table, built once (routing needs the relay domains before the tables)."""
        if table_name not in self.domain_tables:
            self.domain_tables[table_name] = self._build_domain_table(table_name, list_name, identity)
        return self.domain_tables[table_name]

    def _build_domain_table(self, table_name: str, list_name: str, identity: Identity) -> Table:
        named = self.config.named_lists[list_name]
        generated = False
        sources: list[str] = []
        entries: list[str] = []
        problems: list[str] = []
        for item in named.items:
            if item.negated:
                problems.append(f"!{item.value}")
            elif item.kind in ("literal", "wildcard"):
                entries.append(item.value.lower())
            elif item.kind == "local" and item.value == "@":
                if identity.hostname:
                    entries.append(identity.hostname.lower())
                # else: the host's own name, which smtpd's "for local" matches
            elif item.kind == "local" and item.value == "@[]":
                continue  # 'for local' covers the server's address literals
            elif item.kind in ("lookup", "file") and self._lookup(item, entries, problems, sources, "domain"):
                generated = True
            elif item.kind in ("lookup", "file"):
                continue  # _lookup said why
            elif (query := _QUERY_LOOKUP.match(item.value)) is not None:
                if not self._sql_table(table_name, named, item):
                    problems.append(f"{item.text} ({_backend_advice(query.group(1))})")
            else:
                problems.append(item.text)
        self._book_list(named, problems, "domains")
        return Table(
            table_name,
            "domains",
            entries=tuple(dict.fromkeys(entries)),
            origin=(named.span,),
            generated=generated,
            file=self._table_file(table_name) if generated else "",
            sources=tuple(sources),
        )

    def _sql_table(self, table_name: str, named: NamedList, item: ListItem) -> bool:
        """An SQL lookup in a domain list becomes a table of OpenSMTPD's SQL backends; True when it did."""
        name = f"{table_name}_sql"
        if name in self.sql_tables:  # smtpd matches one table per rule: a second SQL item is one too many
            return False
        options = {k: o.value.text for k, o in self.config.options.items() if o.value is not None}
        found = sql_domain_table(item.value, options)
        if isinstance(found, str):
            self.books.mark(named, "unmapped", "EXIM-LIST-SQL", f"{named.kind}list {named.name}: {item.text}: {found}")
            return False
        kind = item.value.split(";", 1)[0].strip()
        for used in (f"{kind}_servers", "sqlite_dbfile" if kind == "sqlite" else ""):
            option = self.config.options.get(used)
            if option is not None:
                self.books.mark(option, "mapped")  # carried into the backend's configuration
        self.sql_tables[name] = Table(
            name,
            "domains",
            file=f"{self._table_file(name)}.conf",
            origin=(named.span,),
            generated=True,
            sources=(found.source,) if found.source else (),
            backend=found.backend,
            backend_config=found.config,
            secret=found.secret,
        )
        return True

    def _table_file(self, name: str) -> str:
        return f"{get_platform(self.platform).tables_dir}/{name}"

    def _lookup(self, item: ListItem, entries: list[str], problems: list[str], sources: list[str], kind: str) -> bool:
        """Keys of a lookup file (or a file of items) read from under --root; True when read."""
        lookup_type = item.lookup_type if item.kind == "lookup" else "file"
        if kind == "domain" and item.kind == "lookup" and not item.negated:
            return self._domain_lookup(item, lookup_type, entries, problems, sources)
        # In a host list only a net-/netNN- lookup keys on the client's address; without
        # it exim looks up the host *name* (spec 10.12), which smtpd cannot do.
        known = (
            lookup_type in ("lsearch", "dsearch")
            if kind == "domain"
            else re.fullmatch(r"net\d*-(lsearch|iplsearch)", lookup_type) is not None
        )
        if item.negated or not (known or lookup_type == "file"):
            problems.append(f"{item.text} (a {lookup_type} lookup: not converted)")
            return False
        try:
            path = under(self.root, item.value)
            keys = dsearch_keys(path) if lookup_type == "dsearch" else lsearch_keys(path)
        except OSError as exc:
            problems.append(f"{item.text} ({self.root / item.value.lstrip('/')}: {exc.strerror or exc})")
            return False
        sources.append(item.value)
        for key in keys:
            if kind == "domain" and "*" not in key and not key.startswith("^"):
                entries.append(key.lower())
            elif kind == "domain":  # lsearch keys are literal: only wildlsearch would match these
                problems.append(f"{key} in {item.value} (a literal key: exim's lsearch never matched it as a pattern)")
            elif kind == "host" and _is_network(key) and _key_can_match(key, lookup_type):
                entries.append(key)
            elif kind == "host" and _is_network(key):
                problems.append(f"{key} in {item.value} (never matches: {lookup_type} looks up exact addresses)")
            else:
                problems.append(f"{key} in {item.value} (smtpd tables cannot hold it)")
        return True

    def _domain_lookup(
        self, item: ListItem, lookup_type: str, entries: list[str], problems: list[str], sources: list[str]
    ) -> bool:
        try:
            path = under(self.root, item.value)
            found = domain_keys(lookup_type, path, item.value)
        except OSError as exc:
            problems.append(f"{item.text} ({self.root / item.value.lstrip('/')}: {exc.strerror or exc})")
            return False
        if found is None:
            problems.append(f"{item.text} (a {lookup_type} lookup: {_backend_advice(lookup_type)})")
            return False
        entries.extend(found.entries)
        problems.extend(found.problems)
        sources.append(item.value)
        if found.note:
            self.lookup_notes.append(found.note)
        return True

    def _virtual_tables(
        self, virtual: VirtualFiles, tables: list[Table], identity: Identity, alias_files: list[str]
    ) -> list[Table]:
        """The per-domain alias files as one smtpd virtual table (``user@domain value``) and its domains."""
        router = virtual.router
        local = next((t for t in tables if t.name == "local_domains"), None)
        try:
            domains = [d.lower() for d in dsearch_keys(under(self.root, virtual.directory))]
        except OSError as exc:
            self._virtual_note(router, "unmapped", "EXIM-VIRTUAL-DIR", f"{virtual.directory}: {exc.strerror or exc}")
            return []
        outside = [d for d in domains if local is None or not _domain_in(d, local.entries)]
        if outside:
            self._virtual_note(
                router,
                "unmapped",
                "EXIM-VIRTUAL-NOT-LOCAL",
                f"router {router.name}: {', '.join(outside)} in {virtual.directory} are not local domains; "
                "exim's RCPT ACL decided them as other domains, so they are left out",
            )
            domains = [d for d in domains if d not in outside]
        preserve = router.option("qualify_preserve_domain") is not None
        qualify = identity.qualify_domain or identity.hostname
        fallback = self._fallthrough_keys(virtual, qualify, alias_files)
        mapping: list[tuple[str, str]] = [(key, f"{key}@{qualify}") for key in fallback]
        skipped: list[str] = []
        for domain in domains:
            try:
                entries = lsearch_entries(under(self.root, f"{virtual.directory}/{domain}"))
            except OSError as exc:
                skipped.append(f"{domain} ({exc.strerror or exc})")
                continue
            catch_all = None
            written: set[str] = set()
            for key, data in entries:
                local_part = key.lower()
                if local_part in written:
                    continue  # exim takes the first line for a key
                written.add(local_part)
                converted = _virtual_value(data, domain if preserve else qualify)
                if key == "*" and virtual.lookup_type != "lsearch":
                    catch_all = converted
                    continue
                if converted is None:
                    skipped.append(f"{key}@{domain} ({data or 'no data'})")
                    # refused here: a bare fall-through key must not deliver it
                    converted = f"error:550 {key}@{domain} is not accepted here" if fallback else None
                if converted is not None and key != "*":
                    mapping.append((f"{local_part}@{domain}", converted))
            if catch_all is not None:
                # exim's "*" catches every local part missing from the file, before any fall-through
                mapping += [(f"{k}@{domain}", catch_all) for k in fallback if k not in written]
                mapping.append((f"@{domain}", catch_all))
        if skipped:
            self._virtual_note(
                router,
                "approximated",
                "EXIM-VIRTUAL-ENTRIES",
                f"router {router.name}: entries smtpd's virtual table cannot hold, left out "
                f"(smtpd refuses those addresses): {', '.join(skipped)}",
                "deliver them through an aliases entry or an mda action by hand",
            )
        if not domains:
            return []
        files = get_platform(self.platform).tables_dir
        origin = (router.span,)
        sources = (virtual.directory,)
        return [
            Table("virtual_domains", "domains", tuple(domains), (), f"{files}/virtual_domains", origin, True, sources),
            # "virtual" is a keyword of smtpd.conf: a table may not be called that.
            Table("virtual_aliases", "virtual", (), tuple(mapping), f"{files}/virtual_aliases", origin, True, sources),
        ]

    def _fallthrough_keys(self, virtual: VirtualFiles, qualify: str | None, alias_files: list[str]) -> list[str]:
        """Local parts exim's later routers knew: the aliases file's keys and the users in /etc/passwd.

        A local part missing from a domain's file went on to those routers; smtpd's
        virtual table tries a bare ``user`` key after ``user@domain``, so each one
        becomes ``user -> user@host`` and is delivered as exim delivered it.
        """
        if not virtual.falls_through:
            return []
        router = virtual.router
        if qualify is None:
            self._virtual_note(router, "approximated", "EXIM-VIRTUAL-FALLTHROUGH", _FALLTHROUGH_LOST, _FALLTHROUGH_FIX)
            return []
        keys: list[str] = []
        passwd = self.root / "etc/passwd"
        try:
            text = under(self.root, "/etc/passwd").read_text(errors="replace")
            keys += [line.split(":", 1)[0] for line in text.splitlines() if ":" in line]
        except OSError:
            self._virtual_note(
                router,
                "approximated",
                "EXIM-VIRTUAL-FALLTHROUGH",
                f"{_FALLTHROUGH_LOST} ({passwd} could not be read to list the local users)",
                _FALLTHROUGH_FIX,
            )
        for path in alias_files:
            try:
                keys += lsearch_keys(under(self.root, path))
            except OSError:
                continue
        return list(dict.fromkeys(k.lower() for k in keys if k and not k.startswith("*")))

    def _virtual_note(self, router: Driver, severity: str, rule: str, message: str, advice: str = "") -> None:
        self.books.note_span(router.span, severity, rule, message, router.source, advice)
        if severity == "unmapped":
            self.books.mark_driver(router, severity, rule, message, advice)

    def _host_list(self, name: str) -> NamedList:
        return self.inline_lists.get(name) or self.config.named_lists[name]

    def _network_table(self, list_name: str) -> Table:
        named = self._host_list(list_name)
        generated = False
        sources: list[str] = []
        entries: list[str] = []
        problems: list[str] = []
        excluded: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for item in named.items:
            if item.kind == "empty":
                continue  # the local socket: its own client class
            if item.kind == "literal" and item.value.lower() == "localhost" and not item.negated:
                entries += ["127.0.0.1", "::1"]  # what exim's forward lookup of localhost gives
                continue
            if item.kind in ("lookup", "file"):
                generated = self._lookup(item, entries, problems, sources, "host") or generated
                continue
            if item.kind not in ("address", "network"):
                problems.append(item.text)
                continue
            network = ipaddress.ip_network(item.value, strict=False)
            if item.negated:
                excluded.append(network)
                problems.append(f"!{item.value} (the exclusion itself)")
            elif any(network.overlaps(e) for e in excluded):  # type: ignore[arg-type]
                problems.append(f"{item.value} (overlaps an earlier exclusion; left out)")
            else:
                entries.append(str(network) if "/" in item.value else item.value)
        self._book_list(named, problems, "networks")
        return Table(
            list_name,
            "networks",
            entries=tuple(entries),
            origin=(named.span,),
            generated=generated,
            file=self._table_file(list_name) if generated else "",
            sources=tuple(sources),
        )

    def _book_list(self, named: NamedList, problems: list[str], what: str) -> None:
        for note in self.lookup_notes:
            self.books.mark(
                named, "approximated", "EXIM-LOOKUP-TEXT-SOURCE", note, "run exim_dbmbuild again, or compare"
            )
        self.lookup_notes.clear()
        if problems:
            self.books.mark(
                named,
                "unmapped",
                "EXIM-LIST-ITEMS",
                f"{named.kind}list {named.name}: items smtpd tables cannot hold: {', '.join(problems)}",
                f"list those {what} literally, or convert lookup files with a later release",
            )
        else:
            self.books.mark(named, "mapped")

    # -- actions and rules ------------------------------------------------------

    def _actions(self, deliveries: dict[str, Delivery], decisions: list[Decision]) -> list[Action]:
        actions: list[Action] = []
        needed = {d.action for d in decisions if d.accept}
        local = deliveries[LOCAL_DOMAINS]
        if "local" in needed:
            virtual_router = local.virtual.router if local.virtual else None
            origin = tuple(d.span for d in local.drivers if d is not virtual_router)
            final = next((d for d in reversed(local.drivers) if d.kind == "router"), None)
            if final is not None:
                self.books.note_span(
                    final.span,
                    "approximated",
                    "EXIM-UNKNOWN-LOCAL-USER",
                    "smtpd refuses unknown local users at RCPT; exim accepted them from clients "
                    "it trusted before 'verify = recipient' and bounced the mail later",
                    "nothing to do: senders now get the refusal at once",
                )
            actions.append(
                Action(
                    "local",
                    local.method,
                    local.path,
                    alias_table="aliases" if local.alias_files else None,
                    origin=origin,
                    routers=_router_names(local),
                )
            )
        relay = deliveries[RELAY_DOMAINS]
        if "relay_domains" in needed:
            actions.append(
                Action(
                    "relay_domains",
                    "relay",
                    relay_domain_table="relay_routes" if relay.routes else None,
                    relay_host=relay.relay_host,
                    origin=tuple(d.span for d in relay.drivers),
                    routers=_router_names(relay),
                )
            )
        other = deliveries[ANY_DOMAIN]
        if "outbound" in needed:
            actions.append(
                Action(
                    "outbound",
                    "relay",
                    relay_host=other.relay_host,
                    origin=tuple(d.span for d in other.drivers),
                    routers=_router_names(other),
                )
            )
        return actions

    def _rules(
        self, clients: list[ClientClass], decisions: list[Decision], tables: list[Table], identity: Identity
    ) -> list[MatchRule]:
        def accepted(client: str, recipient: str) -> bool:
            return any(d.accept for d in decisions if d.client == client and d.recipient == recipient)

        rendered = {t.name for t in tables if t.entries}
        clients = [c for c in clients if c.table is None or c.table in rendered]
        rules: list[MatchRule] = []
        local_table = next((t for t in tables if t.name == "local_domains"), None)
        if (
            accepted(ANYONE, LOCAL_DOMAINS)
            and local_table
            and "localhost" in local_table.entries
            and ("local", None) not in self._destinations(LOCAL_DOMAINS, tables, identity)
        ):
            rules.append(MatchRule("local", None, "local", None, "local", "mail for this host from this host"))
        for recipient in RECIPIENT_CLASSES:
            action = _ACTION_NAMES[recipient]
            for destination in self._destinations(recipient, tables, identity):
                yes = [
                    self._local_source(c, recipient, clients, tables, accepted)
                    for c in clients
                    if accepted(c.name, recipient)
                ]
                no = [c for c in clients if not accepted(c.name, recipient)]
                if ANYONE in (c.name for c in yes):
                    rules += [_rule(c, destination, None, "exim refuses these") for c in no]
                    rules.append(_rule(ClientClass(ANYONE), destination, action, _COMMENTS[recipient]))
                    continue
                if recipient != ANY_DOMAIN:
                    # A later "for any" rule must not catch what exim refuses here.
                    rules += [
                        _rule(c, destination, None, "exim refuses these") for c in no if accepted(c.name, ANY_DOMAIN)
                    ]
                rules += [_rule(c, destination, action, _COMMENTS[recipient]) for c in yes]
        return rules

    def _local_source(
        self,
        client: ClientClass,
        recipient: str,
        clients: list[ClientClass],
        tables: list[Table],
        accepted: Callable[[str, str], bool],
    ) -> ClientClass:
        """The socket's rule becomes ``from local`` when exim trusts loopback for the same mail.

        smtpd re-matches alias and .forward expansions as local, unauthenticated
        mail: only ``from local`` (socket, loopback and the host's own addresses)
        lets an alias to an outside address through. That is no wider than exim
        when 127.0.0.1 and ::1 are already trusted for these recipients.
        """
        if client.name != LOCAL_CLIENT:
            return client
        trusted: set[str] = set()
        for other in clients:
            table = next((t for t in tables if t.name == other.table), None)
            if table is not None and accepted(other.name, recipient):
                trusted |= {e for e in table.entries if e in ("127.0.0.1", "::1", "127.0.0.0/8", "::1/128")}
        if {"127.0.0.1", "::1"} <= {e.split("/")[0] for e in trusted}:
            if recipient == ANY_DOMAIN:
                self.books.note_span(
                    client_span(clients, tables),
                    "approximated",
                    "EXIM-FROM-LOCAL",
                    "'from local' also covers this host's own addresses, not only the socket and "
                    "loopback; it is what lets aliases and .forward reach outside addresses",
                )
            return ClientClass(LOCAL_CLIENT, "loopback", client.origin)
        if recipient == ANY_DOMAIN and self.config.routers:
            self.books.note_span(
                Span(self.config.path, 0, 0, 0, 0),
                "approximated",
                "EXIM-ALIAS-OUTSIDE",
                "aliases and .forward files that point outside will fail: smtpd re-matches them as "
                "local mail, and exim did not trust loopback to relay",
                "add 127.0.0.1 and ::1 to the trusted hosts if that is acceptable",
            )
        return client

    def _destinations(self, recipient: str, tables: list[Table], identity: Identity) -> list[tuple[str, str | None]]:
        """The smtpd ``for`` criteria that together cover one recipient class."""
        names = {t.name for t in tables if t.entries or t.backend}
        if recipient == ANY_DOMAIN:
            return [("any", None)]
        if recipient == RELAY_DOMAINS:
            return [("domain", n) for n in ("relay_domains", "relay_domains_sql") if n in names]
        found: list[tuple[str, str | None]] = [
            ("domain", n) for n in ("local_domains", "local_domains_sql") if n in names
        ]
        named = self.config.named_lists.get("local_domains")
        if named is not None and not identity.hostname and any(i.value == "@" for i in named.items):
            found.append(("local", None))  # "@" is the host's own name: smtpd's "for local"
        return found

    # -- limits -----------------------------------------------------------------

    def _limits(self) -> Limits:
        options = self.config.options
        size = options.get("message_size_limit")
        origin: list[Span] = []
        size_value = DEFAULT_SIZE
        if size is not None and size.value is not None:
            origin.append(size.span)
            text = size.value.text.strip()
            if size.value.expansion is not None or not _is_size(text):
                self.books.mark(
                    size,
                    "unmapped",
                    "EXIM-SIZE-EXPANDED",
                    "message_size_limit is not a plain size",
                    "set 'smtp max-message-size' by hand",
                )
                size_value = DEFAULT_SIZE
            elif text == "0":
                self.books.mark(
                    size,
                    "approximated",
                    "EXIM-SIZE-UNLIMITED",
                    "exim has no size limit; smtpd always has one (1G here)",
                )
                size_value = "1G"
            else:
                size_value = text
        ttl = None
        for rule in self.config.retry:
            if rule.pattern == "*" and rule.error == "*" and rule.steps:
                ttl = max((s.cutoff for s in rule.steps), key=_seconds)
                origin.append(rule.span)
                self.books.mark(
                    rule,
                    "approximated",
                    "EXIM-RETRY",
                    f"retry schedule becomes 'queue ttl {ttl}': smtpd retries on its own schedule",
                )
            else:
                self.books.mark(
                    rule,
                    "unmapped",
                    "EXIM-RETRY-SPECIFIC",
                    "per-domain or per-error retry rules have no smtpd equivalent",
                )
        warn = options.get("delay_warning")
        warn_value = "24h"
        if warn is not None and warn.value is not None:
            text = warn.value.text.strip()
            first = text.split(":")[0].strip()
            if _seconds(first) > 0:
                warn_value = first
            self.books.mark(
                warn,
                "approximated",
                "EXIM-DELAY-WARNING",
                f"delay warnings become 'bounce warn-interval {warn_value}' (one interval only)",
            )
        return Limits(size_value, ttl, warn_value, tuple(origin))

    # -- content ------------------------------------------------------------------

    def _content(self, deliveries: dict[str, Delivery]) -> Content:
        transports = [d for r in (RELAY_DOMAINS, ANY_DOMAIN) for d in deliveries[r].drivers if d.kind == "transport"]
        blocked = frozenset(id(statement) for statement, _ in self.blocklists)
        mapper = ContentMapper(self.config, sorted(self.used_acls), transports, self.greylist, blocked)
        content = mapper.build()
        for note in mapper.notes:
            self.books.resolve(note.statement, note.severity, note.rule, note.message, note.advice)
            for cond in note.statement.conditions:
                self.books.resolve(cond, note.severity)
        for name in dict.fromkeys(mapper.used_options):
            option = self.config.options.get(name)
            if option is not None:
                self.books.resolve(option, "mapped", "CONTENT")
        if content.dkim is not None:
            for transport in transports:
                for option in transport.options:
                    if option.name.startswith("dkim_"):
                        self.books.resolve(option, "mapped", "CONTENT")
        if content.needs_rspamd and content.greylist == "off":
            self.books.note_span(
                Span(self.config.path, 0, 0, 0, 0),
                "info",
                "RSPAMD-GREYLIST-OFF",
                "rspamd's greylisting is switched off (greylist = null): OpenBSD spamd in front "
                "greylists, as in the setup this tool was made for; --greylist rspamd turns it on",
            )
        return content

    def _filters(self, content: Content, listen: list[Listener]) -> tuple[list[Filter], list[Listener], list[str]]:
        """filter-rspamd on every TCP listener (exim's DATA ACL saw them all); dkimsign on outbound paths."""
        filters: list[Filter] = []
        socket_filters: list[str] = []
        if content.needs_rspamd:
            origin = (content.spam.origin if content.spam else ()) + (
                content.antivirus.origin if content.antivirus else ()
            )
            filters.append(Filter("rspamd", "filter-rspamd", origin=origin))
            listen = [replace(li, filters=(*li.filters, "rspamd")) for li in listen]
        dkim = content.dkim
        if dkim is not None and not dkim.per_domain:
            command = f"filter-dkimsign -d {dkim.domain} -s {dkim.selector} -k {dkim.key} -c {dkim.canonicalization}"
            filters.append(Filter("dkimsign", command, "_dkimsign", "_dkimsign", dkim.origin))
            socket_filters.append("dkimsign")
            listen = [replace(li, filters=(*li.filters, "dkimsign")) if li.submission else li for li in listen]
            self.books.note_span(
                dkim.origin[0],
                "approximated",
                "EXIM-DKIM-PATHS",
                "exim signed everything its smtp transport sent; filter-dkimsign signs mail from the "
                "local socket and the submission port only, since port 25 also carries incoming mail",
                "have trusted networks submit on 587, or sign with rspamd's dkim_signing instead",
            )
        elif dkim is not None:
            self.books.note_span(
                dkim.origin[0],
                "approximated",
                "EXIM-DKIM-RSPAMD",
                "per-domain DKIM keys: rspamd signs (dkim_signing.conf) mail from authenticated "
                "users and trusted networks",
            )
        return filters, listen, socket_filters

    # -- accounting ---------------------------------------------------------------

    def _account_drivers(self, deliveries: dict[str, Delivery]) -> None:
        used = {id(d) for delivery in deliveries.values() for d in delivery.drivers}
        forward = any(d.forward for d in deliveries.values())
        aliases = bool(deliveries[LOCAL_DOMAINS].alias_files)
        for driver in (*self.config.routers, *self.config.transports):
            if id(driver) in used:
                self.books.mark_driver(driver, "mapped")
            elif (
                driver.kind == "transport"
                and driver.driver in ("pipe", "appendfile", "autoreply")
                and (forward or aliases)
                and driver.name.startswith("address_")
            ):
                self.books.mark_driver(
                    driver,
                    "approximated",
                    "EXIM-TRANSPORT-ADDRESS",
                    f"transport {driver.name}: smtpd delivers pipes and files named in aliases "
                    "and .forward itself" + (" (no autoreplies)" if driver.driver == "autoreply" else ""),
                )
            elif driver.kind == "transport" and not self._transport_referenced(driver):
                self.books.mark_driver(
                    driver, "ignored", "EXIM-TRANSPORT-UNUSED", f"transport {driver.name} is never used"
                )

    def _transport_referenced(self, transport: Driver) -> bool:
        for router in self.config.routers:
            for option in router.options:
                if option.name.endswith("transport") and option.value and option.value.text.strip() == transport.name:
                    return True
        return False

    def _account_rest(self) -> None:
        for node in self.config.statements():
            if id(node) in self.books.status:
                continue
            if isinstance(node, MacroDefinition):
                self.books.mark(node, "ignored", "EXIM-MACRO", "macro: already substituted by the reader")
            elif isinstance(node, Option) and node in self.config.main and node.name in IGNORED_OPTIONS:
                self.books.mark(node, "ignored", "EXIM-IGNORED", f"{node.name}: {IGNORED_OPTIONS[node.name]}")
            elif isinstance(node, Option) and node in self.config.main and node.name in MAIN_MAPPED:
                self.books.mark(node, "mapped")
            elif isinstance(node, NamedList):
                self.books.mark(
                    node, "ignored", "EXIM-LIST-UNUSED", f"{node.kind}list {node.name} is not used by the relay policy"
                )
            elif isinstance(node, Acl | AclStatement):
                self.books.mark(node, "ignored")
            elif isinstance(node, Option) and node in self.config.main and node.name in KNOWN_UNMAPPED:
                rule, message, advice = KNOWN_UNMAPPED[node.name]
                self.books.mark(node, "unmapped", rule, f"{node.name}: {message}", advice)
            elif isinstance(node, Driver):
                self.books.mark_driver(
                    node,
                    "unmapped",
                    _rule_id(node),
                    _unmapped_message(node),
                    "route these addresses with a match rule and action by hand if still needed",
                )
            else:
                self.books.mark(
                    node,
                    "unmapped",
                    _rule_id(node),
                    _unmapped_message(node),
                    "check whether it still matters after the switch; see the README's list",
                )


_ACTION_NAMES = {LOCAL_DOMAINS: "local", RELAY_DOMAINS: "relay_domains", ANY_DOMAIN: "outbound"}
_COMMENTS = {
    LOCAL_DOMAINS: "local domains are delivered here",
    RELAY_DOMAINS: "relay domains go on to their own mail hosts",
    ANY_DOMAIN: "outbound mail",
}


def client_span(clients: list[ClientClass], tables: list[Table]) -> Span:
    """Where the trusted networks were written (for findings about them)."""
    for client in clients:
        for table in tables:
            if table.name == client.table and table.origin:
                return table.origin[0]
    return Span("", 0, 0, 0, 0)


_FALLTHROUGH_LOST = (
    "local parts missing from a domain's file went on to exim's next routers (aliases, local users); "
    "smtpd's virtual table refuses those it does not list"
)
_FALLTHROUGH_FIX = "give --root a copy of the server's /etc, or add those local parts to the domain's file"


_HOST_NAME = re.compile(
    r"(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?"
)
_PASSWD_CLIENT = re.compile(r"nwildlsearch\{([^{}]*passwd\.client)\}")


def _literal_credentials(auth: Driver) -> tuple[str, str] | None:
    """``client_send = ^user^password`` (PLAIN), ``: user : password`` (LOGIN), or cram_md5's name and secret."""

    def text(name: str) -> str | None:
        option = auth.option(name)
        if option is None or option.value is None or "$" in option.value.text:
            return None
        return option.value.text

    if auth.driver == "cram_md5":
        name, secret = text("client_name"), text("client_secret")
        return (name, secret) if name and secret else None
    send = text("client_send")
    if auth.driver != "plaintext" or send is None:
        return None
    words = [i.text for i in split_list(send)[1]]
    if len(words) == 1 and words[0].count("^") == 2 and words[0].startswith("^"):
        _, user, password = words[0].split("^")
        return (user, password) if user and password else None
    if len(words) == 3 and words[0] == "":  # LOGIN: no initial response, then the two answers
        user, password = words[1], words[2]
        return (user, password) if user and password else None
    return None


def _domain_in(domain: str, entries: tuple[str, ...]) -> bool:
    """Whether a local_domains table (literal names and ``*.`` wildcards) holds the domain."""
    return domain in entries or any(e.startswith("*.") and domain.endswith(e[1:]) for e in entries)


def _virtual_value(data: str, qualify: str | None) -> str | None:
    """An exim redirect list as a virtual-table value; None when smtpd's virtual table cannot hold it.

    Unqualified local parts get the domain exim would have added, so that smtpd
    re-expands them through the same rules.
    """
    if not data or data.startswith(":") or "$" in data:
        return None  # :fail:, :blackhole:, :defer:, :include:, expansions
    out = []
    for item in split_list(data.replace(",", ":") if ":" not in data else data)[1]:
        address = item.text.strip().strip('"')
        if not address or address[0] in "|/":
            return None
        if "@" not in address:
            if qualify is None:
                return None
            address = f"{address}@{qualify}"
        out.append(address)
    return ", ".join(out) if out else None


def _virtual_action(virtual: VirtualFiles, actions: list[Action]) -> Action:
    local = next(a for a in actions if a.name == "local")
    return Action(
        "virtual",
        local.method,
        local.path,
        virtual_table="virtual_aliases",
        origin=(virtual.router.span, *local.origin),
        routers=(virtual.router.name,),
    )


def _with_virtual_rules(rules: list[MatchRule], virtual: VirtualFiles) -> list[MatchRule]:
    """Before each rule that delivers local domains, the same rule for the virtual domains."""
    out: list[MatchRule] = []
    for rule in rules:
        if rule.action == "local" and rule.destination_table == "local_domains":
            out.append(
                replace(rule, destination_table="virtual_domains", action="virtual", comment="per-domain alias files")
            )
        out.append(rule)
    return out


def _rule(client: ClientClass, destination: tuple[str, str | None], action: str | None, comment: str) -> MatchRule:
    kind, table = destination
    if client.name == LOCAL_CLIENT:
        source, source_table = ("local" if client.table == "loopback" else "socket"), None
    elif client.name == AUTHENTICATED:
        source, source_table = "auth", None
    elif client.name == ANYONE:
        source, source_table = "any", None
    else:
        source, source_table = "src", client.table
    return MatchRule(source, source_table, kind, table, action, comment, client.origin)


def _origin(statement: AclStatement | None, acl: Acl) -> tuple[Span, ...]:
    return (statement.span,) if statement is not None else (acl.span,)


def _key_can_match(key: str, lookup_type: str) -> bool:
    """Which keys exim can ever find: iplsearch takes networks; net-lsearch looks up the exact
    client address; netNN-lsearch the address masked to NN bits, written with "/NN"."""
    mask = re.fullmatch(r"net(\d*)-lsearch", lookup_type)
    if mask is None:
        return True  # net-iplsearch matches networks; a plain file holds list items
    return key.endswith(f"/{mask.group(1)}") if mask.group(1) else "/" not in key


def _is_network(text: str) -> bool:
    try:
        ipaddress.ip_network(text.strip("[]"), strict=False)
    except ValueError:
        return False
    return True


def _router_names(delivery: Delivery) -> tuple[str, ...]:
    return tuple(d.name for d in delivery.drivers if d.kind == "router")


def _uses_pam(condition: Option | None) -> bool:
    """``server_condition = ${if pam{...}}``: exim checks the system passwords, as smtpd does."""
    if condition is None or condition.value is None or condition.value.expansion is None:
        return False
    return any("pam" in item.words() for item in condition.value.expansion.items("if"))


def _named_refs(value: str) -> list[str]:
    return [i.value for i in parse_list(value, "host")[1] if i.kind == "named" and not i.negated]


def _is_size(text: str) -> bool:
    return text.isdigit() or (text[:-1].isdigit() and text[-1:].upper() in "KMG")


def _seconds(text: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    total, number = 0, ""
    for ch in text:
        if ch.isdigit():
            number += ch
        elif ch in units and number:
            total += int(number) * units[ch]
            number = ""
        else:
            return 0
    return total


def _rule_id(node: Statement) -> str:
    name = getattr(node, "name", type(node).__name__)
    return "EXIM-" + type(node).__name__.upper() + "-" + str(name).upper().replace("_", "-")


def _unmapped_message(node: Statement) -> str:
    if isinstance(node, Option):
        return f"{node.name}: no OpenSMTPD equivalent is generated"
    if isinstance(node, Driver):
        return f"{node.kind} {node.name} ({node.driver}): not used by any migrated route"
    return f"{type(node).__name__}: no OpenSMTPD equivalent is generated"


_QUERY_LOOKUP = re.compile(r"(mysql|pgsql|sqlite|ldap|ldapdn|ldapm|redis|oracle|ibase)(?:,[^;]*)?\s*;")
_TABLE_BACKENDS = {
    "mysql": "table-mysql",
    "pgsql": "table-postgres",
    "sqlite": "table-sqlite",
    "ldap": "table-ldap",
    "ldapdn": "table-ldap",
    "ldapm": "table-ldap",
    "redis": "table-redis",
}


def _backend_advice(lookup_type: str) -> str:
    """What to do about a lookup smtpd cannot read as a file: the table backend, if OpenSMTPD has one."""
    backend = _TABLE_BACKENDS.get(lookup_type.split(",")[0].strip("*@"))
    if backend is None:
        return "no OpenSMTPD table backend reads it; export the keys to a file"
    return (
        f"not converted: OpenSMTPD's {backend} (opensmtpd-extras) can serve this list; "
        "write its configuration with the same query, or export the keys to a file"
    )


def build_policy(config: EximConfig, platform: str = "openbsd", greylist: str = "off", root: str = "/") -> Policy:
    """Map a parsed exim configuration to the mail-policy model; lookup files are read under ``root``."""
    return _Mapper(config, platform, greylist, root).build()


__all__ = ["PLATFORMS", "build_policy"]
