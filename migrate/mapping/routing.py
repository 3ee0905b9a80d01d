"""Routers and transports → how each recipient class is delivered (spec ch. 15-30).

Routers are walked in order for each recipient class, as exim walks them for
an address: a router whose preconditions fail is skipped; one whose
preconditions depend on the individual address (``local_parts``,
``condition``, a prefix) cannot be expressed per class and is reported and
skipped.  Alias and ``.forward`` redirects in front of local delivery become
the local action's alias table and smtpd's own ``.forward`` handling.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from migrate import rules
from migrate.errors import Span
from migrate.lookups import LookupStore, lsearch_entries
from migrate.mapping import hosted
from migrate.mapping.classes import ClassUniverse
from migrate.mapping.hosted import HostedSource
from migrate.mapping.ledger import Claim, claim
from migrate.model import ANY_DOMAIN, HOSTED_DOMAINS, LOCAL_DOMAINS, RELAY_DOMAINS
from migrate.reader.expansion import Lookup, Text, Variable
from migrate.reader.lists import split_list
from migrate.reader.tree import Driver, EximConfig, Option
from migrate.rules import Rule

VARIABLES = {
    "local_part": "%{user.username}",
    "local_part_data": "%{user.username}",
    "home": "%{user.directory}",
    "domain": "%{dest.domain}",
    "domain_data": "%{dest.domain}",
}


@dataclass(frozen=True)
class VirtualFiles:
    """``domains = dsearch;DIR`` + ``data = ${lookup{$local_part}lsearch{DIR/$domain}}``: one alias file per domain."""

    directory: str
    lookup_type: str  # lsearch, lsearch* or lsearch*@ (a "*" key catches every other local part)
    router: Driver
    falls_through: bool  # a local part not in the file goes on to the next router (no "no_more")


@dataclass
class Delivery:
    """How one recipient class is delivered, and by which exim drivers."""

    recipient: str
    kind: str  # "local" | "relay" | "refuse" | "none"
    method: str = ""  # local: mbox, maildir, lmtp, mda, forward-only
    path: str = ""
    alias_files: list[tuple[str, Span]] = field(default_factory=list)
    forward: bool = False
    relay_host: str | None = None
    routes: list[tuple[str, str]] = field(default_factory=list)
    drivers: list[Driver] = field(default_factory=list)
    virtual: VirtualFiles | None = None  # per-domain alias files, looked up before the other routers
    route_files: list[str] = field(default_factory=list)  # relay maps the routes were read from
    hosted: list[HostedSource] = field(default_factory=list)  # hosted domains: alias and mailbox lookups, in order
    user: str | None = None  # the fixed user (and group) a hosted delivery ran as
    owners: tuple[str, str] | None = None  # or each domain's owner: (lookup type, file) of ``user = ${lookup...}``
    group: str | None = None

    @property
    def routable(self) -> bool:
        """True when exim would route (and so verify) this class."""
        return self.kind in ("local", "relay")


@dataclass
class Router:
    """Walks the routers for each recipient class."""

    config: EximConfig
    universe: ClassUniverse
    store: LookupStore
    relay_names: list[str] = field(default_factory=list)  # every relay domain, lookup files included
    hosted_names: tuple[str, ...] = ()  # the hosted domains, lookup files included (per-domain file conditions)
    hostname: str | None = None  # primary_hostname (Identity.hostname): $primary_hostname in router conditions
    notes: list[Claim] = field(default_factory=list)

    def deliveries(self) -> dict[str, Delivery]:
        """Delivery for local domains, relay domains and all other domains."""
        return {r: self._walk(r) for r in (LOCAL_DOMAINS, HOSTED_DOMAINS, RELAY_DOMAINS, ANY_DOMAIN)}

    def _note(self, node: Driver | Option, severity: str, rule: Rule, message: str, advice: str = "") -> None:
        if all((n.span, found.rule) != (node.span, rule) for n, found in self.notes):
            self.notes.append(claim(node, severity, rule, message, advice))

    def _walk(self, recipient: str) -> Delivery:
        delivery = Delivery(recipient, "none")
        noted = len(self.notes)
        if recipient == RELAY_DOMAINS and self.universe.relay_domains is None:
            return delivery
        if recipient == HOSTED_DOMAINS and self.universe.hosted_domains is None:
            return delivery
        for router in self.config.routers:
            if recipient == LOCAL_DOMAINS and (virtual := self._local_virtual(router)) is not None:
                if delivery.virtual is not None or delivery.alias_files:
                    self._note(
                        router,
                        "unmapped",
                        rules.ROUTER_VIRTUAL_ORDER,
                        f"router {router.name}: a second alias lookup before this one; smtpd takes one per action",
                    )
                    continue
                delivery.virtual = virtual
                delivery.drivers.append(router)
                continue
            if not self._applies(router, recipient):
                continue
            if self._route(router, recipient, delivery):
                break  # routed (or, for a hosted no_more alias router, the end of the walk)
        forwarded = delivery.alias_files or delivery.forward or delivery.virtual is not None
        left_out = any(found.severity == "unmapped" for _, found in self.notes[noted:])
        if recipient == HOSTED_DOMAINS:
            return self._hosted_end(delivery, left_out)
        if recipient == LOCAL_DOMAINS and delivery.kind == "none" and forwarded and not left_out:
            # aliases (or .forward) and no router at all that delivers here: exim failed every other address.
            # A router that was left out may have delivered them: then nothing is forward-only.
            delivery.kind, delivery.method = "local", "forward-only"
        elif recipient == LOCAL_DOMAINS and delivery.kind == "none" and forwarded:
            virtual_router = delivery.virtual.router if delivery.virtual is not None else None
            aliases = [d for d in delivery.drivers if d is not virtual_router]
            delivery.drivers[:] = [d for d in delivery.drivers if d is virtual_router]  # no action uses the others
            delivery.alias_files.clear()
            delivery.forward = False
            self._aliases_without_action(aliases)
        return delivery

    def _aliases_without_action(self, routers: list[Driver]) -> None:
        for router in routers:
            self._note(
                router,
                "unmapped",
                rules.ALIASES_NO_ACTION,
                f"router {router.name}: its aliases need a local action, and the routers that delivered "
                "these domains were left out",
            )

    def _local_virtual(self, router: Driver) -> VirtualFiles | None:
        """Per-domain alias files for local domains; not when their domains are the hosted ones."""
        virtual = virtual_files(router)
        domains = router.option("domains")
        if virtual is None or domains is None or domains.value is None:
            return virtual
        return None if self.universe.domains_match(domains.value.text, HOSTED_DOMAINS) else virtual

    def _applies(self, router: Driver, recipient: str) -> bool:
        domains = router.option("domains")
        if domains is not None and domains.value is not None:
            if domains.value.expansion is not None:
                self._note(
                    domains,
                    "unmapped",
                    rules.ROUTER_DOMAINS_EXPANDED,
                    f"router {router.name}: its domains depend on an expansion; it is left out",
                    "list the domains in a named domain list, or add a match rule by hand",
                )
                return False
            matched = self.universe.domains_match(domains.value.text, recipient)
            if matched is False:
                return False
            if matched is None:
                self._note(
                    domains,
                    "unmapped",
                    rules.ROUTER_DOMAINS,
                    f"router {router.name}: applies to only some domains of a class; it is left out",
                    "put those domains in a named domain list of their own",
                )
                return False
        for name in PER_ADDRESS:
            option = router.option(name)
            if option is None:
                continue
            if name.startswith("local_part_") and router.option(f"{name}_optional") is not None:
                continue
            if name in ("local_parts", "condition") and recipient == HOSTED_DOMAINS and _hosted_list(router):
                continue  # the hosted domains' mailbox list: a virtual table's keys
            if name == "condition" and recipient == HOSTED_DOMAINS:
                if router.driver == "redirect" and hosted.redundant_condition(router):
                    continue  # "no exact alias" before an lsearch* catch-all: what lsearch* does anyway
                if self._no_domain_has(router):
                    return False
            if name == "local_parts" and _only_exclusions(option):
                self._note(
                    option,
                    "approximated",
                    rules.ROUTER_LOCAL_PARTS_EXCEPT,
                    f"router {router.name}: handles every local part except {_excluded(option)}; "
                    "smtpd delivers those like any other user",
                    "add aliases for them if exim routed them elsewhere",
                )
                continue
            self._note(
                option,
                "unmapped",
                rules.ROUTER_PER_ADDRESS,
                f"router {router.name}: {name} selects addresses one by one; smtpd cannot, so the router is left out",
            )
            return False
        if router.option("verify_only") is not None:
            return False
        require = router.option("require_files")
        if require is not None and not _is_forward(router):
            self._note(
                require,
                "unmapped",
                rules.ROUTER_REQUIRE_FILES,
                f"router {router.name}: require_files is tested per address; the router is left out",
            )
            return False
        return True

    def _no_domain_has(self, router: Driver) -> bool:
        """A router run only where a per-domain file exists, and no hosted domain has it (under --root)."""
        template = hosted.exists_condition(router)
        if template is None or not self.hosted_names:
            return False
        if any(self.store.is_file(template.replace("${domain}", domain)) for domain in self.hosted_names):
            return False
        self._note(
            router,
            "approximated",
            rules.HOSTED_FILE_CONDITION,
            f"router {router.name}: runs only for a domain with {template}, and none of the "
            f"{len(self.hosted_names)} hosted domains has one (under --root): it is left out",
        )
        return True

    def _route(self, router: Driver, recipient: str, delivery: Delivery) -> bool:
        """Apply one router; True when it ends routing for the class."""
        driver = router.driver
        if driver == "redirect":
            return self._redirect(router, recipient, delivery)
        if driver == "accept":
            return self._accept(router, delivery)
        if driver == "dnslookup":
            delivery.kind = "relay"
            delivery.drivers.append(router)
            self._relay_transport(router, delivery)
            self._ignored_targets(router)
            return True
        if driver == "manualroute":
            return self._manualroute(router, recipient, delivery)
        self._note(
            router,
            "unmapped",
            rules.ROUTER_DRIVER,
            f"router {router.name}: the {driver} driver has no OpenSMTPD equivalent; it is left out",
        )
        return False

    def _ignored_targets(self, router: Driver) -> None:
        """ignore_target_hosts has no smtpd equivalent: said on its own line, not counted as carried over."""
        option = router.option("ignore_target_hosts")
        if option is None or option.value is None or not option.value.text.strip():
            return
        self._note(  # on the router: the text report lists whole statements
            router,
            "approximated",
            rules.ROUTER_IGNORE_TARGET_HOSTS,
            f"router {router.name}: ignore_target_hosts = {option.value.text.strip()}: smtpd has no such option; "
            "it tries an MX host at one of these addresses, where exim ignored that host (and failed the address "
            "when no other was left)",
        )

    def _redirect(self, router: Driver, recipient: str, delivery: Delivery) -> bool:
        data = router.option("data")
        file = router.option("file")
        if file is not None and _is_forward(router):
            delivery.forward = True
            delivery.drivers.append(router)
            if router.option("allow_filter") is not None:
                self._note(
                    router,
                    "approximated",
                    rules.ROUTER_FORWARD_FILTER,
                    f"router {router.name}: smtpd reads ~/.forward but not exim filter files",
                    "users with '# Exim filter' files need sieve or procmail instead",
                )
            return False
        if recipient == HOSTED_DOMAINS and (source := hosted.alias_source(router)) is not None:
            delivery.hosted.append(source)
            delivery.drivers.append(router)
            more = router.option("more")
            return more is not None and more.bool_value is False  # no_more: what it does not list fails
        if data is not None and data.value is not None:
            alias = _alias_file(data)
            if alias is not None and recipient == LOCAL_DOMAINS:
                delivery.alias_files.append((alias, data.span))
                delivery.drivers.append(router)
                return False
            text = data.value.text.strip()
            if text.startswith(":fail:") or text.startswith(":blackhole:"):
                delivery.kind = "refuse"
                delivery.drivers.append(router)
                return True
        self._note(
            router,
            "unmapped",
            rules.ROUTER_REDIRECT,
            f"router {router.name}: this redirect cannot be expressed as an smtpd alias or virtual table",
            "turn it into an aliases file, or a virtual table by hand",
        )
        return False

    def _accept(self, router: Driver, delivery: Delivery) -> bool:
        if delivery.recipient == HOSTED_DOMAINS:
            return self._accept_hosted(router, delivery)
        if delivery.recipient != LOCAL_DOMAINS:
            self._note(
                router,
                "unmapped",
                rules.ROUTER_ACCEPT_REMOTE,
                f"router {router.name}: local delivery for non-local domains is not migrated",
            )
            return False
        transport = self._transport(router)
        if transport is None:
            return False
        method = self._local_method(transport, delivery)
        if method is None:
            return False
        if router.option("check_local_user") is None:
            self._note(
                router,
                "approximated",
                rules.ROUTER_ACCEPT_ANY_USER,
                f"router {router.name}: exim delivers any local part; smtpd delivers to system users only",
                "add a virtual table or userbase for mailboxes without system accounts",
            )
        delivery.kind = "local"
        delivery.drivers += [router, transport]
        return True

    def _accept_hosted(self, router: Driver, delivery: Delivery) -> bool:
        """Mailboxes of hosted domains: delivered as one fixed user, listed by a lookup or all taken."""
        source = hosted.mailbox_source(router)
        transport = self._transport(router)
        if source is None or transport is None:
            return False
        user = hosted.option_text(transport, "user") or hosted.option_text(router, "user") or None
        owners = hosted.owner_lookup(user) if user else None
        if self._hosted_method(transport, delivery, user if owners else None) is None:
            return False
        delivery.hosted.append(source)
        delivery.kind = "local"
        delivery.drivers += [router, transport]
        delivery.user, delivery.owners = (None, owners) if owners else (user, None)
        delivery.group = hosted.option_text(transport, "group") or hosted.option_text(router, "group") or None
        if source.path or source.query:
            self._later_hosted_routers(router, delivery)
        return True

    def _later_hosted_routers(self, mailboxes: Driver, delivery: Delivery) -> None:
        """Routers after a mailbox list that could take what it does not list.

        An alias file (the domain's catch-all, or /etc/aliases for every
        domain) gives more keys of the same virtual table: smtpd asks for the
        address, then ``@domain``, and the table holds each router's answer in
        exim's order. An SQL catch-all (keyed on the domain alone) answers
        smtpd's ``@domain`` key. Anything else went on to a router smtpd has no
        equivalent for: those local parts are refused.
        """
        after = self.config.routers[self.config.routers.index(mailboxes) + 1 :]
        for router in after:
            domains = router.option("domains")
            if router.option("verify_only") is not None:
                continue
            value = domains.value if domains is not None else None
            known = domains is None or (value is not None and value.expansion is None)
            if known and value and self.universe.domains_match(value.text, HOSTED_DOMAINS) is False:
                continue
            if self._not_for_hosted(router):
                continue
            source = hosted.alias_source(router) if router.driver == "redirect" else None
            others = [n for n in (*PER_ADDRESS, "require_files", "check_local_user") if n != "condition"]
            only_domains = all(router.option(n) is None for n in others) and (
                router.option("condition") is None or hosted.redundant_condition(router)
            )
            if known and source is not None and (source.catch_all or not source.sql) and only_domains:
                delivery.hosted.append(source)
                delivery.drivers.append(router)
                continue
            self._note(
                router,
                "unmapped",
                rules.HOSTED_FALLTHROUGH,
                f"router {router.name}: local parts of hosted domains that router {mailboxes.name} does not list "
                "went on to this router; smtpd refuses them",
                "list those local parts in the mailbox files, or add them to the hosted virtual table by hand",
            )

    def _not_for_hosted(self, router: Driver) -> bool:
        """A condition no hosted domain meets: ``$domain`` is the host name, or a per-domain file none has."""
        if router.option("condition") is None or not self.hosted_names:
            return False
        only = hosted.domain_condition(router, self.hostname)
        if only is not None:
            return only not in self.hosted_names
        return self._no_domain_has(router)

    def _hosted_end(self, delivery: Delivery, left_out: bool) -> Delivery:
        """Only aliases for hosted domains: forward-only, when no router that may have delivered was left out."""
        if delivery.kind == "none" and delivery.hosted and not left_out:
            delivery.kind, delivery.method = "local", "forward-only"
        elif delivery.kind == "none" and delivery.hosted:
            self._aliases_without_action(delivery.drivers)
            delivery.drivers.clear()
            delivery.hosted.clear()
        return delivery

    def _hosted_method(self, transport: Driver, delivery: Delivery, owner: str | None = None) -> str | None:
        """A hosted mailbox's transport as an smtpd delivery method (paths in smtpd's format specifiers).

        ``owner`` is the per-domain user lookup: where the path names it, it is smtpd's ``%{user.username}``.
        """
        driver = transport.driver
        if driver in ("lmtp", "smtp"):
            return self._local_method(transport, delivery)
        option = transport.option("command" if driver == "pipe" else "directory")
        text = option.value.text.strip() if option is not None and option.value is not None else ""
        if owner:
            text = text.replace(owner, "${exim2smtpd_owner}")
        translated = _translate(text, {**hosted.VARIABLES, "exim2smtpd_owner": "%{user.username}"}) if text else None
        if driver == "appendfile" and translated and transport.option("maildir_format") is not None:
            delivery.method, delivery.path = "maildir", translated
            return "maildir"
        if driver == "pipe" and translated:
            delivery.method, delivery.path = "mda", translated
            return "mda"
        if re.search(r"\$\{lookup\s*(mysql|pgsql|sqlite|ldap\w*|redis)\s*\{", text):
            self._note(
                option or transport,
                "unmapped",
                rules.TRANSPORT_HOSTED,
                f"transport {transport.name}: the mailbox path is read from the database for each address; "
                "smtpd builds a delivery path from the address alone, so these mailboxes are not migrated",
                "if every row's path is DOMAIN/LOCAL_PART/ under one directory, write maildir "
                '"/DIR/%{dest.domain:lowercase}/%{dest.user:lowercase}/" on a hosted action by hand; '
                "or hand the mail to Dovecot's LMTP socket, which can read the path from the same database",
            )
            return None
        self._note(
            option or transport,
            "unmapped",
            rules.TRANSPORT_HOSTED,
            f"transport {transport.name}: only a maildir directory, an LMTP socket or a pipe command built from "
            "$local_part, $domain and the sender maps to a hosted-domain action",
        )
        return None

    def _transport(self, router: Driver) -> Driver | None:
        option = router.option("transport")
        if option is None or option.value is None:
            return None
        name = option.value.text.strip()
        transport = next((t for t in self.config.transports if t.name == name), None)
        if transport is None:
            self._note(
                option,
                "unmapped",
                rules.ROUTER_TRANSPORT,
                f"router {router.name}: transport {name!r} is not defined (or chosen by an expansion)",
            )
        return transport

    def _local_method(self, transport: Driver, delivery: Delivery) -> str | None:
        driver = transport.driver
        if driver == "appendfile":
            return self._appendfile(transport, delivery)
        if driver == "lmtp":
            socket = transport.option("socket")
            if socket is None or socket.value is None or socket.value.expansion is not None:
                self._note(
                    transport,
                    "unmapped",
                    rules.TRANSPORT_LMTP,
                    f"transport {transport.name}: only LMTP to a fixed socket maps to smtpd",
                )
                return None
            delivery.method, delivery.path = "lmtp", socket.value.text.strip()
            return "lmtp"
        if driver == "smtp" and hosted.option_text(transport, "protocol") == "lmtp":
            hosts = hosted.option_text(transport, "hosts")
            if not hosts or "$" in hosts:
                return None
            port = hosted.option_text(transport, "port") or "24"
            delivery.method, delivery.path = "lmtp", f"{split_list(hosts)[1][0].text}:{port}"
            return "lmtp"
        if driver == "pipe":
            command = transport.option("command")
            if command is None or command.value is None:
                return None
            translated = _translate(command.value.text)
            if translated is None:
                self._note(
                    command,
                    "unmapped",
                    rules.TRANSPORT_PIPE,
                    f"transport {transport.name}: the command uses expansions smtpd cannot express",
                )
                return None
            delivery.method, delivery.path = "mda", translated
            return "mda"
        self._note(
            transport,
            "unmapped",
            rules.TRANSPORT_DRIVER,
            f"transport {transport.name}: {driver} cannot deliver locally in smtpd",
        )
        return None

    def _appendfile(self, transport: Driver, delivery: Delivery) -> str | None:
        directory = transport.option("directory")
        file = transport.option("file")
        if directory is not None and directory.value is not None:
            path = directory.value.text.strip()
            translated = _translate(path)
            if translated is None or transport.option("maildir_format") is None:
                self._note(
                    directory,
                    "unmapped",
                    rules.TRANSPORT_DIRECTORY,
                    f"transport {transport.name}: only maildir directories map to smtpd",
                )
                return None
            delivery.method = "maildir"
            delivery.path = "" if translated == "%{user.directory}/Maildir" else translated
            return "maildir"
        if file is not None and file.value is not None:
            path = file.value.text.strip()
            if not re.fullmatch(r"/var/(spool/)?mail/\$\{?local_part(_data)?\}?", path):
                self._note(
                    file,
                    "approximated",
                    rules.TRANSPORT_MBOX_PATH,
                    f"transport {transport.name}: smtpd's mbox is always /var/mail/USER, not {path}",
                )
            delivery.method = "mbox"
            return "mbox"
        return None

    def _manualroute(self, router: Driver, recipient: str, delivery: Delivery) -> bool:
        route_list = router.option("route_list")
        route_data = router.option("route_data")
        if route_list is None and route_data is not None and route_data.value and "$" not in route_data.value.text:
            # a constant route_data (often a macro, ROUTER_SMARTHOST) routes every domain to its hosts
            hosts = route_data.value.text.split()
            return bool(hosts) and self._routes(router, recipient, delivery, route_data, [("*", hosts[0])])
        if route_list is None or route_list.value is None:
            return self._route_data(router, recipient, delivery)
        return self._routes(router, recipient, delivery, route_list, _parse_route_list(route_list.value.text))

    def _routes(
        self, router: Driver, recipient: str, delivery: Delivery, route_list: Option, routes: list[tuple[str, str]]
    ) -> bool:
        """Static next hops: each relay domain's, or the one for every other domain."""
        port = self._transport_port(router)
        scheme = self._scheme(router)
        if recipient == RELAY_DOMAINS:
            for domain in self.relay_domain_names():
                host = _route_for(routes, domain)
                if host is None:
                    self._note(
                        route_list,
                        "unmapped",
                        rules.ROUTER_ROUTE_MISSING,
                        f"router {router.name}: no route for relay domain {domain}",
                    )
                    continue
                delivery.routes.append((domain, _url(host, port, scheme)))
        else:
            host = _route_for(routes, "*")
            if host is None:
                return False
            delivery.relay_host = _url(host, port, scheme)
        delivery.kind = "relay"
        delivery.drivers.append(router)
        self._relay_transport(router, delivery)
        if any(len(split_list(h)[1]) > 1 for _, h in routes):
            self._note(
                route_list,
                "approximated",
                rules.ROUTER_ROUTE_HOSTS,
                f"router {router.name}: only the first host of each route is used by smtpd",
            )
        return True

    def _route_data(self, router: Driver, recipient: str, delivery: Delivery) -> bool:
        """``route_data = ${lookup{$domain}lsearch{FILE}}``: a relay map, read into one next hop per domain.

        A domain missing from the map makes exim's router decline and the next
        router try; smtpd's ``relay domain <table>`` has no such fallback, so the
        router is only taken when every relay domain has an entry.
        """
        option = router.option("route_data")
        source = _relay_map_file(option) if option is not None else None
        if option is None or source is None or recipient != RELAY_DOMAINS:
            self._note(
                option or router,
                "unmapped",
                rules.ROUTER_ROUTE_DATA,
                f"router {router.name}: only route_data = ${{lookup{{$domain}}lsearch{{FILE}}}} for relay "
                "domains is converted; left out",
                "give each next hop its own route_list entry",
            )
            return False
        try:
            relay_map = {key.lower(): data for key, data in lsearch_entries(self.store.read(source))}
        except OSError as exc:
            self._note(
                option,
                "unmapped",
                rules.ROUTER_ROUTE_DATA_FILE,
                f"router {router.name}: {source}: {exc.strerror or exc}",
            )
            return False
        delivery.route_files.append(source)
        port = self._transport_port(router)
        scheme = self._scheme(router)
        # exim looks the domain up literally: a wildcard relay domain never finds its key.
        missing = [d for d in self.relay_domain_names() if d.lower() not in relay_map or "*" in d]
        if missing:
            self._note(
                option,
                "unmapped",
                rules.ROUTER_ROUTE_DATA_MISSING,
                f"router {router.name}: {source} has no entry for {', '.join(missing)}; exim passed those to "
                "the next router, smtpd's relay table cannot, so the router is left out",
                "add the missing domains to the map",
            )
            return False
        for domain in self.relay_domain_names():
            hosts = relay_map[domain.lower()].split()
            if not hosts:
                self._note(
                    option,
                    "unmapped",
                    rules.ROUTER_ROUTE_DATA_EMPTY,
                    f"router {router.name}: empty route for {domain}",
                )
                return False
            delivery.routes.append((domain, _url(hosts[0], port, scheme)))
            if len(split_list(hosts[0])[1]) > 1 or len(hosts) > 1:
                self._note(
                    option,
                    "approximated",
                    rules.ROUTER_ROUTE_HOSTS,
                    f"router {router.name}: only the first host of each route is used by smtpd; options are dropped",
                )
        delivery.kind = "relay"
        delivery.drivers.append(router)
        self._relay_transport(router, delivery)
        return True

    def relay_domain_names(self) -> list[str]:
        """The relay domains: the list's literal items, or every entry its table got (lookup files too)."""
        if self.relay_names:
            return list(self.relay_names)
        name = self.universe.relay_domains
        items = self.universe.named_items(name) if name else None
        return [i.value for i in items or () if i.kind in ("literal", "wildcard") and not i.negated]

    def _transport_port(self, router: Driver) -> str | None:
        transport = self._transport(router)
        if transport is None:
            return None
        port = transport.option("port")
        return port.value.text.strip() if port and port.value else None

    def _scheme(self, router: Driver) -> str:
        """How smtpd must talk to the next hop: exim's ``protocol = smtps`` or a TLS requirement for every host."""
        transport = self._transport(router)
        if transport is None:
            return "smtp"
        if hosted.option_text(transport, "protocol") == "smtps":
            return "smtps"
        if hosted.option_text(transport, "hosts_require_tls") == "*":
            return "smtp+tls"
        return "smtp"

    def _relay_transport(self, router: Driver, delivery: Delivery) -> None:
        transport = self._transport(router)
        if transport is not None:
            delivery.drivers.append(transport)


def _hosted_list(router: Driver) -> bool:
    """An accept router whose local_parts or condition is the mailbox list of hosted domains."""
    source = hosted.mailbox_source(router) if router.driver == "accept" else None
    return source is not None and bool(source.path or source.query)


# Router options that pick addresses one by one (smtpd's match rules and tables cannot).
PER_ADDRESS = ("local_parts", "condition", "senders", "local_part_prefix", "local_part_suffix")


def _only_exclusions(option: Option) -> bool:
    """``local_parts = ! root : ! daemon``: everyone but a few (a negative last item implies ``: *``)."""
    if option.value is None or option.value.expansion is not None:
        return False
    items = split_list(option.value.text)[1]
    return bool(items) and all(i.text.startswith("!") for i in items)


def _excluded(option: Option) -> str:
    return ", ".join(i.text.lstrip("! \t") for i in split_list(option.value.text if option.value else "")[1])


def _is_forward(router: Driver) -> bool:
    file = router.option("file")
    return bool(file and file.value and file.value.text.strip() in ("$home/.forward", "${home}/.forward"))


def _sole_lookup(option: Option) -> Lookup | None:
    """The lookup, when an option's value is one ``${lookup...}`` and nothing around it."""
    expansion = option.value.expansion if option.value else None
    if expansion is None or len(expansion.parts) != 1:
        return None
    lookups = expansion.lookups()
    return lookups[0] if len(lookups) == 1 else None


def _alias_file(option: Option) -> str | None:
    """The file of ``${lookup{$local_part}lsearch{FILE}}``, the aliases idiom."""
    lookup = _sole_lookup(option)
    if lookup is None:
        return None
    key = lookup.key.variables() if lookup.key else []
    source = lookup.source.literal()
    if lookup.type in ("lsearch", "lsearch*") and key in (["local_part"],) and source:
        return source
    return None


def virtual_files(router: Driver) -> VirtualFiles | None:
    """The per-domain alias file idiom, exactly: anything around it and the router is handled elsewhere."""
    if router.driver != "redirect":
        return None
    domains, data = router.option("domains"), router.option("data")
    if domains is None or domains.value is None or data is None or data.value is None:
        return None
    items = split_list(domains.value.text)[1]
    if len(items) != 1 or not items[0].text.strip().startswith("dsearch;"):
        return None
    directory = items[0].text.strip()[len("dsearch;") :].strip().rstrip("/")
    lookup = _sole_lookup(data)
    if lookup is None:
        return None
    key = lookup.key.variables() if lookup.key else []
    parts = lookup.source.parts
    if (
        lookup.type not in ("lsearch", "lsearch*", "lsearch*@")
        or key != ["local_part"]
        or lookup.results
        or len(parts) != 2
        or not isinstance(parts[0], Text)
        or parts[0].text.rstrip("/") != directory
        or not isinstance(parts[1], Variable)
        or parts[1].name not in ("domain", "domain_data")  # exim 4.94+ refuses the tainted $domain here
    ):
        return None
    harmless = {"driver", "domains", "data", "debug_print", "allow_fail", "allow_defer", "more", "retry_use_local_part"}
    harmless |= {"file_transport", "pipe_transport", "qualify_preserve_domain"}
    if {o.name for o in router.options} - harmless:
        return None
    more = router.option("more")
    return VirtualFiles(directory, lookup.type, router, more is None or more.bool_value is not False)


def _relay_map_file(option: Option) -> str | None:
    """The file of ``${lookup{$domain}lsearch{FILE}}`` (nothing else around it)."""
    lookup = _sole_lookup(option)
    if lookup is None:
        return None
    key = lookup.key.variables() if lookup.key else []
    source = lookup.source.literal()
    if lookup.type == "lsearch" and key == ["domain"] and source and not lookup.results:
        return source
    return None


def _translate(text: str, variables: dict[str, str] = VARIABLES) -> str | None:
    """Replace the exim variables smtpd knows by its format specifiers; None when one has no equivalent."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return variables.get(name, "\0")

    result = re.sub(r"\$\{(\w+)\}|\$(\w+)", replace, text)
    if "\0" in result or "${" in result:
        return None
    return result


def _parse_route_list(text: str) -> list[tuple[str, str]]:
    """``pattern hosts [options]; ...`` → (pattern, hosts) pairs."""
    routes = []
    for item in split_list(text if text.lstrip().startswith("<") else "<;" + text)[1]:
        words = item.text.split()
        if len(words) >= 2:
            hosts = words[1].strip('"')
            routes.append((words[0], hosts))
    return routes


def _route_for(routes: list[tuple[str, str]], domain: str) -> str | None:
    for pattern, hosts in routes:
        if pattern in ("*", domain) or (pattern.startswith("*") and domain.endswith(pattern[1:])):
            return hosts
    return None


def _url(hosts: str, port: str | None, scheme: str = "smtp") -> str:
    first = split_list(hosts)[1][0].text
    host, _, host_port = first.partition(":")
    number = host_port or port
    return f"{scheme}://{host}:{number}" if number else f"{scheme}://{host}"
