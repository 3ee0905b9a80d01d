"""The mail-policy model: what the server does, in neither exim's nor smtpd's words.

Built by ``mapping`` from the parse tree, rendered by ``render`` to smtpd.conf.
Frozen dataclasses with tuples; every element keeps the spans of the exim
statements it came from (``origin``), so a generated line can cite them.

The relay decision is a small matrix: for each client class (the local
socket, a set of trusted networks, authenticated users, anyone) and each
recipient class (local domains, relay domains, everything else) the model
says whether exim accepts the recipient and which action delivers it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from migrate.errors import Diagnostic, Span

Origin = tuple[Span, ...]

# Recipient classes, in the order rules are written.
LOCAL_DOMAINS = "local-domains"
# A domain list of its own that routers deliver to mailboxes without system accounts (virtual_domains...).
HOSTED_DOMAINS = "hosted-domains"
RELAY_DOMAINS = "relay-domains"
ANY_DOMAIN = "other-domains"
RECIPIENT_CLASSES = (LOCAL_DOMAINS, HOSTED_DOMAINS, RELAY_DOMAINS, ANY_DOMAIN)

# The rspamd Settings-ID under which rspamd only signs (rspamd/local.d/settings.conf).
SIGN_ONLY = "exim2smtpd-sign"

# Client classes that are not a network table.
LOCAL_CLIENT = "local"
AUTHENTICATED = "authenticated"
ANYONE = "anyone"


@dataclass(frozen=True, slots=True)
class Service:
    """Something exim did for its users, found in exim's own configuration.

    The mapping says what exim provided; whether the output keeps it is decided
    from the written files (``migrate.report.services``), never from the model.
    """

    name: str  # inbound | relay | submission | outbound | sendmail | forwarding | content | dkim
    title: str  # what it is, in an admin's words
    provided: bool
    table: str | None = None  # relay: the trusted network's table
    recipients: tuple[str, ...] = ()  # sendmail: the recipient classes exim delivered for the socket
    origin: Origin = ()
    needs_auth: bool = False  # outbound: exim's smarthost transport logged in to every host (hosts_require_auth = *)
    left_out: tuple[str, ...] = ()  # hosted: routers for those domains the output does not carry (their mail is lost)


@dataclass(frozen=True, slots=True)
class Table:
    """A named set or mapping for smtpd.conf: domains, networks, routes, aliases."""

    name: str
    # "domains" | "networks" | "routes" | "aliases" | "virtual" | "credentials" | "logins" | "addresses" | "regexes"
    kind: str
    entries: tuple[str, ...] = ()  # list tables
    mapping: tuple[tuple[str, str], ...] = ()  # mapping tables
    file: str = ""  # a file-backed table (e.g. the aliases file)
    origin: Origin = ()
    generated: bool = False  # entries read from exim lookup files: written as a table file beside smtpd.conf
    sources: tuple[str, ...] = ()  # the exim lookup files the entries were read from
    backend: str = ""  # an opensmtpd-extras table backend (sqlite, mysql, postgres); ``file`` is its config
    backend_config: str = ""  # that configuration file's text
    secret: bool = False  # the configuration holds a password: installed 0600


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the server says it is."""

    hostname: str | None
    qualify_domain: str | None
    origin: Origin = ()
    own_name: str | None = None  # without primary_hostname: the host's name as read from its /etc/hostname


@dataclass(frozen=True, slots=True)
class Certificate:
    """A TLS certificate and key, named for smtpd's ``pki``."""

    name: str
    cert: str
    key: str
    origin: Origin = ()


@dataclass(frozen=True, slots=True)
class Listener:
    """One address and port smtpd listens on."""

    address: str  # "all", "0.0.0.0", "::", an address, or "socket"
    port: int
    tls: str  # "none" | "starttls" | "require" (STARTTLS before anything) | "smtps"
    auth: str = "none"  # "none" | "optional" | "required"
    pki: str | None = None
    origin: Origin = ()
    filters: tuple[str, ...] = ()
    submission: bool = False
    hostname: str | None = None  # the name it greets with (exim's primary_hostname)
    logins: str | None = None  # the credentials table AUTH checks; None: the system passwords
    tag: str | None = None  # the policy of its port, where exim's differs by port (match tag ...)
    sni: tuple[str, ...] = ()  # more pki names after ``pki``: certificates chosen by the name a client asks for


@dataclass(frozen=True, slots=True)
class Filter:
    """An smtpd filter process (filter-rspamd) and where it is attached."""

    name: str
    command: str
    user: str | None = None
    group: str | None = None
    origin: Origin = ()


@dataclass(frozen=True, slots=True)
class SpamThresholds:
    """rspamd actions.conf: scores at which exim's spam statements acted (SpamAssassin units)."""

    reject: float | None = None
    add_header: float | None = None
    rewrite_subject: float | None = None
    origin: Origin = ()


@dataclass(frozen=True, slots=True)
class Antivirus:
    """A ClamAV scanner rspamd's antivirus module talks to."""

    servers: str
    reject: bool
    origin: Origin = ()


@dataclass(frozen=True, slots=True)
class Dnsbl:
    """One DNS blocklist for rspamd's rbl module; ``reject`` makes it a forced action."""

    zone: str
    symbol: str
    returncodes: tuple[str, ...] = ()
    reject: bool = False
    sender_domain: bool = False  # look up the envelope sender's domain instead of the client IP
    message: str = ""
    origin: Origin = ()


@dataclass(frozen=True, slots=True)
class ForcedAction:
    """rspamd force_actions: a symbol that must reject, as exim's deny did."""

    name: str
    expression: str
    message: str
    origin: Origin = ()


@dataclass(frozen=True, slots=True)
class RateLimit:
    """rspamd ratelimit: a bucket per selector."""

    name: str
    selector: str
    rate: str
    burst: int
    origin: Origin = ()


@dataclass(frozen=True, slots=True)
class Multimap:
    """An rspamd multimap rule refusing listed client addresses or senders, as exim's deny did."""

    name: str
    kind: str  # "ip" | "from"
    entries: tuple[str, ...]
    by_domain: bool = False  # match the sender's domain, not the whole address
    message: str = ""
    origin: Origin = ()


@dataclass(frozen=True, slots=True)
class DkimSigning:
    """How outbound mail is signed: by rspamd's dkim_signing, on the paths exim's smtp transport signed.

    exim signed what its smtp transport sent out: mail from the local socket,
    from its trusted networks and from authenticated users, never mail that
    came in for its own domains. rspamd signs by who sent the mail, so the
    trusted networks are listed for it (``networks``).
    """

    domain: str  # "$domain" when exim chose the key per domain
    selector: str
    key: str
    canonicalization: str = "relaxed/relaxed"
    per_domain: bool = False
    origin: Origin = ()
    networks: tuple[str, ...] = ()  # rspamd's sign_networks: exim's trusted networks, and loopback for the socket


@dataclass(frozen=True, slots=True)
class Content:
    """Everything exim's ACLs and transports did to message content."""

    spam: SpamThresholds | None = None
    antivirus: Antivirus | None = None
    dnsbls: tuple[Dnsbl, ...] = ()
    forced: tuple[ForcedAction, ...] = ()
    ratelimits: tuple[RateLimit, ...] = ()
    dkim: DkimSigning | None = None
    spam_headers: bool = False
    greylist: str = "off"  # "off": OpenBSD spamd (or nothing) greylists; "rspamd": rspamd does
    multimaps: tuple[Multimap, ...] = ()
    headers_origin: Origin = ()  # the statements that added spam headers to every message
    greylisting: Origin = ()  # the statements that greylisted (rspamd's greylist module carries them out)

    @property
    def needs_rspamd(self) -> bool:
        """True when rspamd has any work to do for this configuration: scanning or signing."""
        return self.scans or self.dkim is not None

    @property
    def scans(self) -> bool:
        """True when exim's ACLs did something to content (not only signing): rspamd must scan."""
        return bool(
            self.spam
            or self.antivirus
            or self.dnsbls
            or self.forced
            or self.ratelimits
            or self.multimaps
            or self.spam_headers
            or self.greylist == "rspamd"
        )

    @property
    def origin(self) -> Origin:
        """Every exim statement rspamd takes over (what filter-rspamd on a listener carries out)."""
        spans: list[Span] = []
        for part in (self.spam, self.antivirus, *self.dnsbls, *self.forced, *self.ratelimits, *self.multimaps):
            if part is not None:
                spans += part.origin
        if self.dkim is not None:
            spans += self.dkim.origin
        greylists = self.greylisting if self.greylist == "rspamd" else ()
        return (*spans, *self.headers_origin, *greylists)


@dataclass(frozen=True, slots=True)
class Action:
    """How an accepted recipient is delivered."""

    name: str
    method: str  # "mbox" | "maildir" | "lmtp" | "mda" | "relay"
    path: str = ""  # maildir path, lmtp destination or mda command
    alias_table: str | None = None
    virtual_table: str | None = None
    relay_host: str | None = None  # smtp://host:port for a smarthost
    relay_domain_table: str | None = None  # per-domain next hops
    auth_table: str | None = None  # credentials for relay_host (a secrets table)
    origin: Origin = ()
    routers: tuple[str, ...] = ()  # the exim routers whose deliveries this action takes over
    auth_origin: Origin = ()  # the client authenticator whose credentials ``auth_table`` holds
    helo: str | None = None  # the name it says HELO with (exim's primary_hostname)
    userbase_table: str | None = None  # the accounts of mailboxes without system users (uid:gid:home)


@dataclass(frozen=True, slots=True)
class ClientClass:
    """Who is connecting: the local socket, a network table, authenticated users, anyone."""

    name: str  # LOCAL_CLIENT, AUTHENTICATED, ANYONE, or a network table's name
    table: str | None = None
    origin: Origin = ()


@dataclass(frozen=True, slots=True)
class Decision:
    """exim's answer for one client class and recipient class."""

    client: str
    recipient: str
    accept: bool
    action: str | None
    origin: Origin = ()
    tag: str | None = None  # the listeners (by port) it holds for, when exim's policy differs by port


@dataclass(frozen=True, slots=True)
class MatchRule:
    """One smtpd ``match`` line, in order."""

    source: str  # "local" | "any" | "auth" | "src" | "socket"
    source_table: str | None
    destination: str  # "local" | "any" | "domain"
    destination_table: str | None
    action: str | None  # None means reject
    comment: str = ""
    origin: Origin = ()
    rcpt_regex_table: str | None = None  # also only for recipients matching this table of regexes
    negate_source: bool = False  # "! from socket", "! from src <table>"
    negate_destination: bool = False  # "! for domain <table>"
    tag: str | None = None  # only for sessions on the listeners of this tag (exim's policy for their ports)


@dataclass(frozen=True, slots=True)
class Limits:
    """Size and queue limits that carry over."""

    max_message_size: str | None = None
    queue_ttl: str | None = None
    bounce_warn_interval: str | None = None
    origin: Origin = ()
    sub_addr_delim: str | None = None  # None: smtpd's default "+"


@dataclass(frozen=True, slots=True)
class Policy:
    """Everything the renderer needs, and everything that did not carry over."""

    source: str
    platform: str
    identity: Identity
    tables: tuple[Table, ...] = ()
    certificates: tuple[Certificate, ...] = ()
    listeners: tuple[Listener, ...] = ()
    actions: tuple[Action, ...] = ()
    clients: tuple[ClientClass, ...] = ()
    decisions: tuple[Decision, ...] = ()
    rules: tuple[MatchRule, ...] = ()
    limits: Limits = field(default_factory=Limits)
    content: Content = field(default_factory=Content)
    filters: tuple[Filter, ...] = ()
    socket_filters: tuple[str, ...] = ()
    findings: tuple[Diagnostic, ...] = ()
    accounting: tuple[tuple[Span, str], ...] = ()  # every statement read, and its bucket
    services: tuple[Service, ...] = ()
    auth_origin: Origin = ()  # the server authenticators smtpd's ``auth`` on the listeners carries out
    exim_accepting: Origin = ()  # the ACL statements that accepted some class for exim (routes assumed)
    policy_origin: Origin = ()  # the ACL statements the match rules carry out together
    given: str = ""  # the input as the admin named it (path, --debian, -D names): every header says it

    def counts(self) -> dict[str, int]:
        """How many statements landed in each bucket."""
        totals = {"mapped": 0, "approximated": 0, "unmapped": 0, "ignored": 0}
        for _, bucket in self.accounting:
            totals[bucket] += 1
        return totals

    def decision(self, client: str, recipient: str) -> Decision | None:
        """The decision for one client class and recipient class."""
        return next((d for d in self.decisions if d.client == client and d.recipient == recipient), None)

    def table(self, name: str) -> Table | None:
        """The table of that name."""
        return next((t for t in self.tables if t.name == name), None)
