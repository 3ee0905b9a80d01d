"""Content checks in exim's ACLs and transports → rspamd and smtpd filters (spec ch. 43-45, 56).

OpenSMTPD scans nothing itself: filter-rspamd hands each message to rspamd at
the end of DATA, and rspamd signs too. So ``malware``, ``spam``,
``dnslists``, ``spf`` and ``ratelimit`` conditions become rspamd settings, and
the smtp transport's ``dkim_*`` options become signing. Thresholds keep their
meaning: exim's ``$spam_score_int`` counts tenths of a point.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from migrate import rules
from migrate.mapping import greylisting
from migrate.mapping.ledger import Claim, claim
from migrate.mapping.logins import is_server
from migrate.model import (
    Antivirus,
    Content,
    DkimSigning,
    Dnsbl,
    ForcedAction,
    Multimap,
    RateLimit,
    SpamThresholds,
)
from migrate.reader.lists import split_list
from migrate.reader.tree import AclCondition, AclStatement, Driver, EximConfig
from migrate.rules import Rule

CONTENT_CONDITIONS = frozenset(("malware", "spam", "dnslists", "spf", "ratelimit"))
# What a statement may carry besides its content condition and still map.
PASSIVE = frozenset(("message", "log_message", "logwrite", "add_header", "set", "control", "delay"))
SA_DEFAULT_REQUIRED = 5.0


@dataclass
class ContentMapper:
    """Collects rspamd settings from the ACLs exim runs and the transports it uses."""

    config: EximConfig
    acl_names: list[str]
    transports: list[Driver]
    greylist: str = "off"
    skip: frozenset[int] = frozenset()  # statements smtpd.conf already enforces (host blocklists)
    notes: list[Claim] = field(default_factory=list)
    used_options: list[str] = field(default_factory=list)
    _thresholds: dict[str, float] = field(default_factory=dict)
    _spam_origin: list = field(default_factory=list)
    _headers: list = field(default_factory=list)
    _antivirus: Antivirus | None = None
    _dnsbls: list[Dnsbl] = field(default_factory=list)
    _forced: list[ForcedAction] = field(default_factory=list)
    _rates: list[RateLimit] = field(default_factory=list)
    _maps: list[Multimap] = field(default_factory=list)
    _greylisting: list = field(default_factory=list)
    _logins_accepted: bool = True  # in the ACL being walked, an earlier "accept authenticated = *"

    def build(self) -> Content:
        """Walk the ACLs and transports; return the content policy."""
        acls = {a.name: a for a in self.config.acls}
        logins = any(is_server(a) for a in self.config.authenticators)  # without them nobody logs in
        for name in self.acl_names:
            self._logins_accepted = not logins  # until an "accept authenticated = *" in this ACL
            for statement in acls[name].statements if name in acls else ():
                if greylisting.is_greylisting(statement, acls[name]):
                    self._greylisting.append(statement.span)
                    continue
                self._statement(statement)
                self._logins_accepted = self._logins_accepted or _accepts_logins(statement)
        spam = None
        if self._thresholds:
            t = self._thresholds
            spam = SpamThresholds(
                t.get("reject"), t.get("add_header"), t.get("rewrite_subject"), tuple(self._spam_origin)
            )
        return Content(
            spam,
            self._antivirus,
            tuple(self._dnsbls),
            tuple(self._forced),
            tuple(self._rates),
            self._dkim(),
            bool(self._headers),
            self.greylist,
            tuple(self._maps),
            tuple(self._headers),
            tuple(self._greylisting),
        )

    def _note(self, st: AclStatement, severity: str, rule: Rule, message: str, advice: str = "") -> None:
        self.notes.append(claim(st, severity, rule, message, advice))

    def _statement(self, st: AclStatement) -> None:
        if id(st) in self.skip:
            return
        names = {c.name for c in st.conditions}
        content = names & CONTENT_CONDITIONS
        if not content:
            self._deny_list(st, names - PASSIVE)
            return
        others = names - CONTENT_CONDITIONS - PASSIVE - {"condition"}
        if len(content) > 1 or others:
            self._note(
                st,
                "unmapped",
                rules.CONTENT_COMBINED,
                f"{st.verb} combining {', '.join(sorted(names - PASSIVE))}: rspamd settings cannot be "
                "combined with these conditions",
                "write an rspamd composite or force_actions rule by hand",
            )
            return
        (kind,) = content
        handlers = {
            "malware": self._malware,
            "spam": self._spam_statement,
            "dnslists": self._dnslists,
            "spf": self._spf,
            "ratelimit": self._ratelimit,
        }
        handlers[kind](st, next(c for c in st.conditions if c.name == kind))

    # -- virus ----------------------------------------------------------------

    def _malware(self, st: AclStatement, cond: AclCondition) -> None:
        scanner = self.config.options.get("av_scanner")
        text = scanner.value.text.strip() if scanner and scanner.value else "sophie:/var/run/sophie"
        match = re.fullmatch(r"clamd:\s*(\S+)(?:\s+(\d+))?", text)
        if not match or cond.negated:
            self._note(
                st,
                "unmapped",
                rules.CONTENT_AV_SCANNER,
                f"av_scanner {text!r}: only ClamAV (clamd) maps to rspamd's antivirus module",
                "configure rspamd's antivirus.conf for your scanner by hand",
            )
            return
        servers = match.group(1) + (f":{match.group(2)}" if match.group(2) else "")
        reject = st.verb in ("deny", "drop")
        self._antivirus = Antivirus(servers, reject, (st.span, scanner.span) if scanner else (st.span,))
        self.used_options.append("av_scanner")
        severity = "mapped" if reject and not _has_condition(st) else "approximated"
        self._note(
            st,
            severity,
            rules.CONTENT_AV,
            "virus scanning moves to rspamd's antivirus module (ClamAV at "
            + servers
            + ")"
            + ("; only the reject is kept, not the extra condition" if _has_condition(st) else ""),
        )

    # -- spam -----------------------------------------------------------------

    def _spam_statement(self, st: AclStatement, cond: AclCondition) -> None:
        value = cond.value.text.strip() if cond.value else ""
        always = value.endswith(":true")
        threshold = _score_threshold(st)
        headers = any(c.name == "add_header" for c in st.conditions)
        assumed = ""
        if threshold is None and not always:
            threshold = SA_DEFAULT_REQUIRED
            assumed = " (SpamAssassin's own required_score, assumed to be its default 5.0)"
        self.used_options.append("spamd_address")
        self._spam_origin.append(st.span)
        spamd = self.config.options.get("spamd_address")
        if spamd is not None and spamd.span not in self._spam_origin:
            self._spam_origin.append(spamd.span)
        if st.verb in ("deny", "drop"):
            if threshold is None:
                self._note(st, "unmapped", rules.CONTENT_SPAM_ALWAYS, "deny on every scanned message: not migrated")
                return
            self._thresholds["reject"] = min(threshold, self._thresholds.get("reject", threshold))
            self._note(
                st,
                "approximated",
                rules.CONTENT_SPAM_REJECT,
                f"spam reject at score {threshold:g}{assumed} becomes rspamd's reject threshold",
                "SpamAssassin and rspamd score differently: watch the first weeks (rspamd defaults: "
                "add_header 6, reject 15)",
            )
        elif st.verb == "warn" and headers:
            if threshold is None:
                self._headers.append(st.span)
                self._note(
                    st,
                    "approximated",
                    rules.CONTENT_SPAM_HEADERS,
                    "spam headers on every message become rspamd's milter_headers (X-Spam-Status, "
                    "X-Spamd-Bar...): the header names and texts differ",
                )
                return
            self._thresholds["add_header"] = min(threshold, self._thresholds.get("add_header", threshold))
            self._note(
                st,
                "approximated",
                rules.CONTENT_SPAM_HEADER,
                f"spam header at score {threshold:g}{assumed} becomes rspamd's add_header threshold "
                "(filter-rspamd adds X-Spam: yes)",
            )
        else:
            self._note(st, "unmapped", rules.CONTENT_SPAM_OTHER, f"{st.verb} on spam: no rspamd action matches")

    # -- DNS blocklists -------------------------------------------------------------

    def _dnslists(self, st: AclStatement, cond: AclCondition) -> None:
        if cond.negated or cond.value is None:
            self._note(st, "unmapped", rules.CONTENT_DNSBL_NEGATED, "negated dnslists: not migrated")
            return
        reject = st.verb in ("deny", "drop")
        message = next((c.value.text for c in st.conditions if c.name == "message" and c.value), "")
        approximations: list[str] = []
        for item in split_list(cond.value.text)[1]:
            dnsbl = _dnsbl(item.text, reject, message, st, approximations)
            if dnsbl is None:
                self._note(st, "unmapped", rules.CONTENT_DNSBL_ITEM, f"dnslists item {item.text!r} cannot be mapped")
                return
            self._dnsbls.append(dnsbl)
            if reject:
                self._forced.append(
                    ForcedAction(
                        f"{dnsbl.symbol}_REJECT",
                        dnsbl.symbol,
                        _smtp_text(message) or f"listed in {dnsbl.zone}",
                        (st.span,),
                    )
                )
        when = "at the end of DATA, not at RCPT as in exim"
        if not self._logins_accepted:
            approximations.append(
                "rspamd leaves authenticated users out of its DNS blocklist checks (its default), which exim "
                "applied to them here"
            )
        self._note(
            st,
            "approximated",
            rules.CONTENT_DNSBL,
            f"dnslists become rspamd rbl rules{' with a forced reject' if reject else ' (scored)'}: checked "
            + when
            + ("; " + "; ".join(approximations) if approximations else ""),
        )

    # -- SPF ----------------------------------------------------------------------

    def _spf(self, st: AclStatement, cond: AclCondition) -> None:
        results = [i.text.strip() for i in split_list(cond.value.text if cond.value else "")[1]]
        symbols = {
            "fail": "R_SPF_FAIL",
            "softfail": "R_SPF_SOFTFAIL",
            "neutral": "R_SPF_NEUTRAL",
            "permerror": "R_SPF_PERMFAIL",
            "temperror": "R_SPF_DNSFAIL",
            "none": "R_SPF_NA",
        }
        if cond.negated or not results or any(r not in symbols for r in results):
            self._note(st, "unmapped", rules.CONTENT_SPF, f"spf = {' : '.join(results)}: not migrated")
            return
        if st.verb in ("deny", "drop"):
            expression = " | ".join(symbols[r] for r in results)
            message = next((c.value.text for c in st.conditions if c.name == "message" and c.value), "")
            self._forced.append(
                ForcedAction("EXIM_SPF_REJECT", expression, _smtp_text(message) or "SPF check failed", (st.span,))
            )
            self._note(
                st,
                "approximated",
                rules.CONTENT_SPF,
                f"spf = {' : '.join(results)} rejects through rspamd's spf module and force_actions, "
                "at the end of DATA instead of at RCPT",
            )
        else:
            self._note(st, "approximated", rules.CONTENT_SPF_SCORE, "SPF results are scored by rspamd's spf module")

    # -- rate limits ----------------------------------------------------------------

    def _ratelimit(self, st: AclStatement, cond: AclCondition) -> None:
        parts = [p.strip() for p in (cond.value.text if cond.value else "").split("/")]
        if len(parts) < 2 or not parts[0].replace(".", "").isdigit() or st.verb not in ("deny", "defer", "drop"):
            self._note(st, "unmapped", rules.CONTENT_RATELIMIT, "this ratelimit cannot be mapped")
            return
        count, period = parts[0], parts[1]
        key = next((p for p in parts[2:] if p.startswith("$")), "$sender_host_address")
        selector = {
            "$sender_host_address": "ip",
            "$authenticated_id": "user.lower",
            "$sender_address": "from('smtp'):addr.lower",
            "$sender_address_domain": "from('smtp'):domain",
        }
        if key not in selector:
            self._note(st, "unmapped", rules.CONTENT_RATELIMIT_KEY, f"ratelimit key {key}: no rspamd selector")
            return
        name = f"EXIM_RATELIMIT_{len(self._rates) + 1}"
        burst = int(float(count))
        self._rates.append(RateLimit(name, selector[key], f"{count} / {period}", burst, (st.span,)))
        self._note(
            st,
            "approximated",
            rules.CONTENT_RATELIMIT,
            f"ratelimit {count}/{period} per {key} becomes an rspamd bucket (leaky, per message; exim's "
            "strict/leaky/per_rcpt modes differ); rspamd needs Redis for it",
        )

    # -- deny lists -------------------------------------------------------------------

    def _deny_list(self, st: AclStatement, tests: set[str]) -> None:
        """``deny hosts = +blocked`` / ``deny senders = +blocked``: an rspamd multimap reject."""
        if st.verb not in ("deny", "drop") or len(tests) != 1 or not tests <= {"hosts", "senders", "sender_domains"}:
            return
        (name,) = tests
        cond = next(c for c in st.conditions if c.name == name)
        if cond.negated or cond.value is None or cond.value.expansion is not None:
            return
        entries, list_name = self._list_entries(cond.value.text, "host" if name == "hosts" else "address")
        if not entries:
            return
        message = next((c.value.text for c in st.conditions if c.name == "message" and c.value), "")
        symbol = "EXIM_DENY_" + re.sub(r"[^A-Z0-9]+", "_", (list_name or f"{name}_{len(self._maps) + 1}").upper())
        kind = "ip" if name == "hosts" else "from"
        if kind == "ip":
            self._maps.append(Multimap(symbol, kind, tuple(entries), False, _smtp_text(message), (st.span,)))
        else:  # whole addresses and bare domains need separate rules in rspamd
            addresses = tuple(e for e in entries if "@" in e and name != "sender_domains")
            domains = tuple(e for e in entries if e not in addresses)
            if addresses:
                self._maps.append(Multimap(symbol, kind, addresses, False, _smtp_text(message), (st.span,)))
            if domains:
                self._maps.append(Multimap(symbol + "_DOMAINS", kind, domains, True, _smtp_text(message), (st.span,)))
        self._note(
            st,
            "approximated",
            rules.DENY_LIST,
            f"deny {name} becomes the rspamd multimap rule {symbol} (refused at the end of DATA, not at "
            f"{'connect or RCPT' if kind == 'ip' else 'MAIL FROM'} as in exim)",
        )

    def _list_entries(self, text: str, kind: str) -> tuple[list[str], str]:
        """Literal entries of an inline or named list, or nothing when any item is not literal."""
        items = split_list(text)[1]
        list_name = ""
        if len(items) == 1 and items[0].text.startswith("+"):
            list_name = items[0].text[1:].strip()
            named = self.config.named_lists.get(list_name)
            if named is None:
                return [], list_name
            texts = [i.text for i in named.items]
        else:
            texts = [i.text for i in items]
        entries = []
        for entry in texts:
            entry = entry.strip()
            if not entry or entry.startswith(("!", "+", "^", "/", "\\")) or ";" in entry or "$" in entry:
                return [], list_name
            if kind == "host" and not re.fullmatch(r"[0-9a-fA-F:.]+(/\d+)?", entry):
                return [], list_name
            entries.append(entry[2:] if entry.startswith("*@") else entry.lower())
        return entries, list_name

    # -- DKIM -----------------------------------------------------------------------

    def _dkim(self) -> DkimSigning | None:
        for transport in self.transports:
            key = transport.option("dkim_private_key")
            domain = transport.option("dkim_domain")
            selector = transport.option("dkim_selector")
            if key is None or domain is None or selector is None:
                continue
            texts = [o.value.text.strip() if o.value else "" for o in (domain, selector, key)]
            canon = transport.option("dkim_canon")
            canon_text = canon.value.text.strip() if canon and canon.value else "relaxed"
            per_domain = any("dkim_domain" in t or "$domain" in t or "sender_address_domain" in t for t in texts)
            if per_domain:
                path = re.sub(r"\$\{?(dkim_domain|domain|sender_address_domain)\}?", "$domain", texts[2])
                domain_text = "$domain"
            else:
                path, domain_text = texts[2], texts[0]
            if "$" in texts[1] or "${" in path.replace("$domain", "") or "$" in domain_text.replace("$domain", ""):
                return None  # chosen by an expansion we cannot follow: reported by the content step
            self.used_options.extend(("dkim_domain", "dkim_selector", "dkim_private_key", "dkim_canon"))
            origin = tuple(o.span for o in (domain, selector, key, canon) if o is not None)
            return DkimSigning(domain_text, texts[1], path, f"{canon_text}/{canon_text}", per_domain, origin)
        return None


def _has_condition(st: AclStatement) -> bool:
    return any(c.name == "condition" for c in st.conditions)


def _score_threshold(st: AclStatement) -> float | None:
    """``condition = ${if >{$spam_score_int}{N}...}`` → N/10 (exim counts tenths)."""
    for cond in st.conditions:
        if cond.name != "condition" or cond.value is None or cond.value.expansion is None:
            continue
        for item in cond.value.expansion.items("if"):
            words = item.words()
            groups = item.groups()
            if (
                words
                and words[0] in (">", ">=")
                and len(groups) >= 2
                and groups[0].variables() == ["spam_score_int"]
                and (groups[1].literal() or "").isdigit()
            ):
                return int(groups[1].literal() or 0) / 10
    return None


def _dnsbl(text: str, reject: bool, message: str, st: AclStatement, approximations: list[str]) -> Dnsbl | None:
    match = re.fullmatch(r"([A-Za-z0-9.-]+\.[A-Za-z]{2,})(?:=([0-9.,]+))?(/\$sender_address_domain)?", text.strip())
    if not match:
        return None
    zone = match.group(1).lower()
    symbol = "EXIM_" + re.sub(r"[^A-Z0-9]+", "_", zone.upper()).strip("_")
    codes = tuple(c for c in (match.group(2) or "").split(",") if c)
    return Dnsbl(zone, symbol, codes, reject, bool(match.group(3)), _smtp_text(message), (st.span,))


def _smtp_text(message: str) -> str:
    """exim's message text without expansions (rspamd cannot fill them in)."""
    if "$" in message:
        return ""
    return message.strip()


def _accepts_logins(statement: AclStatement) -> bool:
    """``accept authenticated = *`` and nothing else that could fail: no logged-in client gets past it."""
    tests = [c for c in statement.conditions if not c.modifier]
    return (
        statement.verb == "accept"
        and len(tests) == 1
        and tests[0].name == "authenticated"
        and not tests[0].negated
        and tests[0].value is not None
        and tests[0].value.text.strip() == "*"
    )
