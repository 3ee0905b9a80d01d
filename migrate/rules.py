"""The rule catalogue: every finding exim2smtpd can report, in one registry.

A finding names a rule object, never an id string, so that the SARIF rule
metadata, the readiness grade, where a note goes in smtpd.conf and the rule
reference (``exim2smtpd rules``, docs/rules.md) all come from the same place.
Messages at the call site say what happened to *this* statement; the rule's
summary and advice say what the rule means in general.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

BUCKETS = ("mapped", "approximated", "unmapped", "ignored")
SEVERITIES = ("error", "warning", "info", *BUCKETS)
PLACES = ("table", "global", "listen", "action", "match")


@dataclass(frozen=True, slots=True)
class Rule:
    """One kind of finding: its stable id and what it means."""

    id: str
    area: str
    bucket: str  # the bucket (or reader severity) it usually comes with
    summary: str
    advice: str = ""
    place: str = "global"  # where an unmapped note goes in smtpd.conf
    hard: bool = False  # an unmapped statement of this rule needs a rewrite by hand: grade C
    replaces: tuple[str, ...] = ()  # former ids (fnmatch patterns) a baseline may still hold

    def __str__(self) -> str:
        return self.id


CATALOGUE: dict[str, Rule] = {}
AREAS: dict[str, str] = {}


def _area(name: str, title: str) -> str:
    AREAS[name] = title
    return name


def rule(
    id: str,
    area: str,
    bucket: str,
    summary: str,
    advice: str = "",
    *,
    place: str = "",
    hard: bool = False,
    replaces: tuple[str, ...] = (),
) -> Rule:
    """Register one rule; ids are unique."""
    assert id not in CATALOGUE, id
    assert bucket in SEVERITIES, bucket
    found = Rule(id, area, bucket, summary, advice, place or _PLACE_OF_AREA.get(area, "global"), hard, replaces)
    CATALOGUE[id] = found
    return found


def by_id(rule_id: str) -> Rule | None:
    """The rule of that id, or the rule that replaced it."""
    found = CATALOGUE.get(rule_id)
    if found is not None:
        return found
    return next((r for r in CATALOGUE.values() if any(fnmatch.fnmatchcase(rule_id, p) for p in r.replaces)), None)


READER = _area("reader", "Reading the configuration")
DEBIAN = _area("debian", "Debian's /etc/exim4")
MAIN = _area("main", "Main options")
LISTEN = _area("listen", "Listeners, TLS and ports")
AUTH = _area("auth", "SMTP AUTH")
LISTS = _area("lists", "Named lists and lookup files")
ACL = _area("acl", "ACLs and the relay policy")
ROUTING = _area("routing", "Routers")
DELIVERY = _area("delivery", "Transports, aliases and virtual domains")
CONTENT = _area("content", "Content scanning (rspamd)")
DKIM = _area("dkim", "DKIM signing")
LIMITS = _area("limits", "Sizes, retries and the queue")
ACCOUNTING = _area("accounting", "Every other statement")
HONESTY = _area("honesty", "What the output really does")
SERVICE = _area("services", "Services exim provided")

_PLACE_OF_AREA = {
    LISTEN: "listen",
    AUTH: "listen",
    LISTS: "table",
    ACL: "match",
    CONTENT: "match",
    ROUTING: "action",
    DELIVERY: "action",
}

# -- reader -------------------------------------------------------------------------
READ_ACL = rule(
    "EXIM-READ-ACL",
    READER,
    "error",
    "an ACL statement exim would refuse",
    "exim refuses this file too (exim -C FILE -bV says so): fix the ACL statement there first",
)
READ_BINARY = rule(
    "EXIM-READ-BINARY",
    READER,
    "error",
    "the file is not text",
    "give the text configuration file, not a compiled or compressed one",
)
READ_DIRECTIVE = rule(
    "EXIM-READ-DIRECTIVE",
    READER,
    "error",
    "an unknown or malformed dot directive",
    "exim refuses this file too: fix the dot directive (.include, .ifdef...) first",
)
READ_DRIVER = rule(
    "EXIM-READ-DRIVER",
    READER,
    "error",
    "a router, transport or authenticator exim would refuse",
    "exim refuses this file too: fix the driver definition first",
)
READ_DUPLICATE = rule(
    "EXIM-READ-DUPLICATE",
    READER,
    "error",
    "a name or option defined twice",
    "exim refuses this file too: remove or rename one of the two",
)
READ_EMPTY = rule(
    "EXIM-READ-EMPTY",
    READER,
    "warning",
    "the configuration holds no statement",
    "point the command at the configuration exim really reads (exim -bP configure_file)",
)
READ_ENDIF = rule(
    "EXIM-READ-ENDIF",
    READER,
    "error",
    ".endif or .else without .ifdef",
    "exim refuses this file too: balance the .ifdef/.endif pairs",
)
READ_ENDIF_MISSING = rule(
    "EXIM-READ-ENDIF-MISSING",
    READER,
    "error",
    ".ifdef without .endif",
    "exim refuses this file too: add the missing .endif",
)
READ_EXPANSION = rule(
    "EXIM-READ-EXPANSION",
    READER,
    "warning",
    "an expansion the reader cannot follow",
    "the statement is read as opaque text and reported where it matters; check it by hand",
)
READ_FILE = rule(
    "EXIM-READ-FILE",
    READER,
    "error",
    "a file cannot be opened",
    "give --root a copy of the server's tree, or check the path and its permissions",
)
READ_IGNORED = rule("EXIM-READ-IGNORED", READER, "warning", "text exim ignores", "nothing to do: exim ignores it too")
READ_INCLUDE = rule(
    "EXIM-READ-INCLUDE", READER, "error", "a malformed .include", "exim refuses this file too: name the file to include"
)
READ_INCLUDE_DEPTH = rule(
    "EXIM-READ-INCLUDE-DEPTH", READER, "error", ".include nested too deep", "flatten the includes"
)
READ_INCLUDE_LOOP = rule(
    "EXIM-READ-INCLUDE-LOOP",
    READER,
    "error",
    "a file includes itself",
    "exim refuses this file too: break the include cycle",
)
READ_INCLUDE_ROOT = rule(
    "EXIM-READ-INCLUDE-ROOT",
    READER,
    "error",
    "an .include leads outside --root",
    "keep included files inside --root (a copy of the server's tree)",
)
READ_LOCAL_SCAN = rule(
    "EXIM-READ-LOCAL-SCAN",
    READER,
    "warning",
    "a local_scan section",
    "rewrite the local_scan function as an smtpd filter or rspamd rule",
)
READ_MACRO = rule(
    "EXIM-READ-MACRO",
    READER,
    "error",
    "a macro definition exim would refuse",
    "exim refuses this file too: fix the macro definition first",
)
READ_NESTING = rule("EXIM-READ-NESTING", READER, "error", ".ifdef nested too deep", "flatten the conditionals")
READ_OPTION = rule(
    "EXIM-READ-OPTION",
    READER,
    "error",
    "an option value exim would refuse",
    "exim refuses this file too: fix the option's value first",
)
READ_RETRY = rule(
    "EXIM-READ-RETRY",
    READER,
    "error",
    "a retry rule exim would refuse",
    "exim refuses this file too: fix the retry rule first",
)
READ_REWRITE = rule(
    "EXIM-READ-REWRITE",
    READER,
    "error",
    "a rewrite rule exim would refuse",
    "exim refuses this file too: fix the rewrite rule first",
)
READ_SECTION = rule(
    "EXIM-READ-SECTION",
    READER,
    "error",
    "an unknown or repeated section",
    "exim refuses this file too: fix the begin lines",
)
READ_SYNTAX = rule(
    "EXIM-READ-SYNTAX",
    READER,
    "error",
    "a statement that cannot be read",
    "exim refuses this file too (exim -C FILE -bV): fix the line first",
)
READ_UNKNOWN_OPTION = rule(
    "EXIM-READ-UNKNOWN-OPTION",
    READER,
    "error",
    "an option exim does not know",
    "exim refuses this file too: the option is misspelt or belongs to another exim build",
)
OUTPUT = rule(
    "OUTPUT",
    READER,
    "error",
    "the output directory cannot be written",
    "name a directory (it is created if missing), or remove the file in the way",
)
SMTPD_INCLUDE = rule(
    "SMTPD-INCLUDE",
    READER,
    "error",
    "an include in a committed smtpd.conf (not followed)",
    "put the included statements into the compared smtpd.conf",
)
SMTPD_SYNTAX = rule(
    "SMTPD-SYNTAX",
    READER,
    "error",
    "a committed smtpd.conf line that cannot be read",
    "smtpd -n refuses it too: fix the committed smtpd.conf",
)
SMTPD_STATEMENT = rule(
    "SMTPD-STATEMENT",
    READER,
    "error",
    "a committed smtpd.conf statement that cannot be read",
    "smtpd -n refuses it too: fix the committed smtpd.conf",
)
DEBIAN_SETUP = rule(
    "DEBIAN-SETUP",
    DEBIAN,
    "error",
    "Debian's settings or conf.d cannot be read as update-exim4.conf would",
    "give the whole /etc/exim4 directory (update-exim4.conf.conf and its conf.d or template)",
)

# -- main options ----------------------------------------------------------------------
IGNORED = rule(
    "EXIM-IGNORED",
    MAIN,
    "ignored",
    "an option about exim itself (logs, spool, its own users)",
    "nothing to do: smtpd has its own logs, spool and users",
)
LOCAL_HOST_NAME = rule(
    "EXIM-LOCAL-HOST-NAME",
    LISTS,
    "approximated",
    "@ without primary_hostname: the host's name is taken from its /etc/hostname",
    "check the name is this host's full name (exim completes a short one from DNS), or set primary_hostname",
)
LOCAL_LITERALS = rule(
    "EXIM-LOCAL-LITERALS",
    LISTS,
    "approximated",
    "@[] in the local domains: mail to this host's address literals is refused",
    "nothing to do unless users really write to user@[address]",
)
EXPANSION_OPAQUE = rule(
    "EXIM-EXPANSION-OPAQUE",
    MAIN,
    "unmapped",
    "a value whose expansion the reader cannot follow: nothing was made of it",
    "check the value by hand (exim -be), and carry out what it does by hand",
)
SQL_UNQUOTED = rule(
    "EXIM-SQL-UNQUOTED",
    LISTS,
    "info",
    "an SQL lookup that puts message data into its query unquoted: injectable, in exim as anywhere",
    "wrap each variable in ${quote_mysql:...} (or quote_pgsql, quote_sqlite) in exim, and in any query "
    "written for the OpenSMTPD table backends use their placeholders",
)
OVERRIDDEN = rule(
    "EXIM-OVERRIDDEN",
    MAIN,
    "ignored",
    "an option set again further down: exim uses the later setting",
    "nothing to do, or delete the earlier line: exim 4.97 and later ignore it",
)
MACRO = rule(
    "EXIM-MACRO",
    MAIN,
    "ignored",
    "a macro definition: the reader substituted it already",
    "nothing to do: its value is already in the statements that use it",
)
QUALIFY_DOMAIN = rule(
    "EXIM-QUALIFY-DOMAIN",
    MAIN,
    "approximated",
    "smtpd qualifies bare local addresses with the server name, not qualify_domain",
    "set the server name (hostname / /etc/mailname) to the qualify domain if they differ",
)
HOSTNAME_INVALID = rule(
    "EXIM-HOSTNAME-INVALID", MAIN, "approximated", "primary_hostname is not a valid host name", "set a real host name"
)
SYSTEM_FILTER = rule(
    "EXIM-SYSTEM-FILTER",
    MAIN,
    "unmapped",
    "smtpd has no system filter",
    "rewrite it as rspamd rules or a filter",
    hard=True,
)
BANNER = rule("EXIM-BANNER", MAIN, "unmapped", "smtpd's banner is fixed ('ESMTP OpenSMTPD')", "accept the change")
HELO_VERIFY = rule(
    "EXIM-HELO-VERIFY", MAIN, "unmapped", "smtpd does not verify HELO names", "use rspamd's hfilter module"
)
HOST_REJECT = rule(
    "EXIM-HOST-REJECT",
    MAIN,
    "unmapped",
    "host_reject_connection is not migrated",
    "add 'filter ... phase connect match src <table> disconnect' by hand",
)
LOCAL_SCAN = rule("EXIM-LOCAL-SCAN", MAIN, "unmapped", "smtpd has no local_scan", "use a filter")
REWRITE = rule(
    "EXIM-REWRITE",
    MAIN,
    "unmapped",
    "address rewriting has no smtpd equivalent",
    "rewrite addresses in a filter, or drop the rule",
    hard=True,
    replaces=("EXIM-REWRITERULE-*",),
)
OPTION_UNMAPPED = rule(
    "EXIM-OPTION-NO-EQUIVALENT",
    MAIN,
    "unmapped",
    "an option with no OpenSMTPD equivalent generated",
    "check whether it still matters after the switch; see the README's list",
    replaces=("EXIM-OPTION-*",),
)
STATEMENT_UNMAPPED = rule(
    "EXIM-STATEMENT-UNMAPPED",
    MAIN,
    "unmapped",
    "a statement with no OpenSMTPD equivalent generated",
    "check whether it still matters after the switch",
    replaces=("EXIM-RETRYRULE-*", "EXIM-NAMEDLIST-*", "EXIM-ACLSTATEMENT-*"),
)

# -- listeners and TLS -------------------------------------------------------------------
LISTEN_PORT = rule(
    "EXIM-LISTEN-PORT",
    LISTEN,
    "unmapped",
    "a port that is neither a number nor a known service",
    "write the port as a number, or add it to a 'listen on' line by hand",
)
TLS_EXPANDED = rule(
    "EXIM-TLS-EXPANDED",
    LISTEN,
    "unmapped",
    "the certificate is chosen by an expansion (per SNI?): smtpd needs one pki per name",
    "add a 'pki NAME cert FILE key FILE' line per host name and 'pki NAME' on the listeners",
)
TLS_SNI = rule(
    "EXIM-TLS-SNI",
    LISTEN,
    "approximated",
    "certificates chosen per host name (SNI) become one pki per name found under --root",
    "add a pki line (and 'pki NAME' on the listeners) for each name whose certificate is added later",
)
TLS_NO_CERTIFICATE = rule(
    "EXIM-TLS-NO-CERTIFICATE",
    LISTEN,
    "unmapped",
    "exim offered TLS here but no certificate was migrated, so the listener has none",
    "add the certificate as a pki and 'tls pki NAME' / 'smtps pki NAME' on the listener",
)

# -- authentication -----------------------------------------------------------------------
AUTH_SERVER = rule(
    "EXIM-AUTH-SERVER",
    AUTH,
    "unmapped",
    "a server authenticator whose passwords smtpd cannot check (not system passwords, an lsearch file, a literal "
    "pair, dovecot's passwd-file or an SQL query of hashes)",
    "create a credentials table with smtpctl encrypt and add 'auth <table>' to the listeners by hand",
)
AUTH_SYSTEM_VIA = rule(
    "EXIM-AUTH-SYSTEM-VIA",
    AUTH,
    "approximated",
    "exim asked saslauthd or dovecot, which checked the system passwords; smtpd checks them itself",
    "check that the accounts saslauthd or dovecot accepted are system accounts smtpd can check (PAM on Linux, "
    "bsd_auth on OpenBSD)",
)
AUTH_CREDENTIALS = rule(
    "EXIM-AUTH-CREDENTIALS",
    AUTH,
    "approximated",
    "the passwords exim checked are copied into a 0600 credentials table of crypt(3) hashes, read at conversion",
    "install the credentials file 0600, owned by root; convert again (or 'smtpctl update table') after a "
    "password changes in the original",
)
AUTH_LOGIN_LOST = rule(
    "EXIM-AUTH-LOGIN-LOST",
    AUTH,
    "approximated",
    "some logins exim accepted cannot log in to smtpd: their password is in a form smtpd's crypt(3) does not check",
    "have those users set a new password, and add it with 'smtpctl encrypt' to the credentials table",
)
AUTH_PASSWORD_FILE = rule(
    "EXIM-AUTH-PASSWORD-FILE",
    AUTH,
    "unmapped",
    "a password file that cannot be read, or a line of one that holds no password where exim looks",
    "make the file readable under --root (or fix the line) and convert again",
)
AUTH_CRAM = rule(
    "EXIM-AUTH-CRAM",
    AUTH,
    "approximated",
    "smtpd offers no CRAM-MD5: its users log in with PLAIN or LOGIN (over TLS) with the same secret",
    "switch those mail clients to PLAIN or LOGIN over TLS",
)
AUTH_CLEAR = rule(
    "EXIM-AUTH-CLEAR",
    AUTH,
    "approximated",
    "exim offered AUTH without TLS too; smtpd offers it only over TLS",
    "check that the mail clients use STARTTLS on 587 (or implicit TLS on 465) before they log in",
)
AUTH_NO_TLS = rule(
    "EXIM-AUTH-NO-TLS",
    AUTH,
    "unmapped",
    "smtpd offers AUTH only over TLS, and no listener has TLS",
    "migrate the certificate (tls_certificate, tls_privatekey as literal files) so the listeners offer TLS",
)
AUTH_SQL = rule(
    "EXIM-AUTH-SQL",
    AUTH,
    "approximated",
    "an authenticator whose hashes are in exim's SQL database: smtpd asks it with the backend's query_credentials",
    "check that the rows hold hashes the target's crypt(3) checks, and log in once with verify --cases",
)
AUTH_LDAP = rule(
    "EXIM-AUTH-LDAP",
    AUTH,
    "unmapped",
    "an authenticator that asks LDAP (ldapauth binds as the user, or a lookup reads the password attribute): smtpd "
    "has no LDAP check of its own",
    "let the system check LDAP (PAM through libpam-ldapd or sssd; on OpenBSD login_ldap as the auth-smtp style) and "
    "give the listeners 'auth', or serve crypt(3) hashes with opensmtpd-table-ldap's credentials_filter",
)
AUTH_ONE_SOURCE = rule(
    "EXIM-AUTH-ONE-SOURCE",
    AUTH,
    "unmapped",
    "smtpd checks every login against one source (system passwords or one table); this authenticator used another",
    "merge the users into one credentials table, or choose which source stays",
)
AUTH_CLIENT = rule(
    "EXIM-AUTH-CLIENT",
    AUTH,
    "unmapped",
    "a client authenticator no migrated relay uses",
    "put passwd.client under --root, or add 'auth <secrets>' to the relay action by hand",
)
AUTH_CLIENT_CREDENTIALS = rule(
    "EXIM-AUTH-CLIENT-CREDENTIALS",
    AUTH,
    "approximated",
    "smarthost credentials moved to a 0600 secrets table; smtpd sends them over TLS only",
    "install the secrets file 0600, owned by root",
)

# -- lists and lookups ----------------------------------------------------------------------
LIST_ITEMS = rule(
    "EXIM-LIST-ITEMS",
    LISTS,
    "unmapped",
    "list items smtpd tables cannot hold",
    "list those entries literally, or convert lookup files with a later release",
)
SQL_SOCKET = rule(
    "EXIM-SQL-SOCKET",
    LISTS,
    "approximated",
    "the SQL table backend connects through its client library's default socket, not the one exim named",
    "check the two are the same path, or make the server listen on the default one",
)
LIST_SQL = rule(
    "EXIM-LIST-SQL",
    LISTS,
    "unmapped",
    "an SQL lookup that cannot become a table backend",
    "write the backend's configuration by hand (opensmtpd-extras table-mysql/postgres/sqlite)",
)
LIST_UNREADABLE = rule(
    "EXIM-LIST-UNREADABLE",
    LISTS,
    "unmapped",
    "a host list names a file exim2smtpd could not read, so the hosts it lists are unknown",
    "put a readable copy of the server's file under --root (within the size exim2smtpd reads), then convert again",
)
LIST_UNUSED = rule(
    "EXIM-LIST-UNUSED",
    LISTS,
    "ignored",
    "a named list the relay policy does not use",
    "nothing to do: exim did not use it either",
)
LOOKUP_TEXT_SOURCE = rule(
    "EXIM-LOOKUP-TEXT-SOURCE",
    LISTS,
    "approximated",
    "a dbm/cdb file read from its text source",
    "run exim_dbmbuild again, or compare",
)

# -- ACLs -------------------------------------------------------------------------------------
ACL_CLASS_SPLIT = rule(
    "EXIM-ACL-CLASS-SPLIT",
    ACL,
    "unmapped",
    "exim let part of a client or domain class through; smtpd refuses the whole class",
    "give those hosts or domains a named list of their own and an accept statement",
)
ACL_ACCEPT_LOST = rule(
    "EXIM-ACL-ACCEPT-LOST",
    ACL,
    "unmapped",
    "an accept whose recipients the output refuses (no route, or no table, carried them over)",
    "see the lost services: the route or list these recipients need was not migrated",
)
ACL_ACCEPT_PARTLY = rule(
    "EXIM-ACL-ACCEPT-PARTLY",
    ACL,
    "approximated",
    "an accept some of whose recipients the output refuses (the others are carried over)",
    "see the lost services: the route or list those recipients need was not migrated",
)
ACL_CONDITIONAL_ACCEPT = rule(
    "EXIM-ACL-CONDITIONAL-ACCEPT",
    ACL,
    "unmapped",
    "an accept whose condition smtpd cannot test: left out",
    "mail of this kind falls through to the statements after it",
)
ACL_DENY_HOSTS = rule(
    "EXIM-ACL-DENY-HOSTS",
    ACL,
    "approximated",
    "denied hosts are refused by a reject rule ahead of all others",
    "nothing to do unless an earlier accept for those hosts mattered",
)
ACL_DENY_UNREADABLE = rule(
    "EXIM-ACL-DENY-UNREADABLE",
    ACL,
    "unmapped",
    "a deny whose hosts are listed in a file that could not be read: smtpd refuses every client it may refuse",
    "put a readable copy of the server's file under --root (within the size exim2smtpd reads), then convert again",
)
ACL_DENY_LOCAL_PARTS = rule(
    "EXIM-ACL-DENY-LOCAL-PARTS",
    ACL,
    "approximated",
    "denied local parts are refused by a rcpt-to regex reject rule ahead of all others",
    "nothing to do unless an earlier accept sent mail to such addresses",
)
ACL_DOMAIN_FILE = rule(
    "EXIM-ACL-DOMAIN-FILE",
    ACL,
    "approximated",
    "a deny decided by a file per domain (a panel's suspension flag): the domains flagged now are refused",
    "refuse a domain suspended later by hand (or regenerate the configuration)",
)
ACL_DISCARD = rule(
    "EXIM-ACL-DISCARD",
    ACL,
    "approximated",
    "discard becomes a refusal",
    "nothing to do unless senders must not learn the mail was dropped",
)
ACL_EXPANDED = rule(
    "EXIM-ACL-EXPANDED",
    ACL,
    "unmapped",
    "the ACL is chosen by an expansion",
    "name one ACL; until then only the local socket may send mail",
    hard=True,
)
ACL_FILTER = rule(
    "EXIM-ACL-FILTER",
    ACL,
    "unmapped",
    "a per-message check no smtpd match rule can test",
    "move the check to rspamd (content, DNSBL, rate limits) or accept the difference",
)
ACL_INLINE = rule(
    "EXIM-ACL-INLINE",
    ACL,
    "unmapped",
    "an inline or file ACL",
    "move the ACL into the acl section and name it",
    hard=True,
)
ACL_PER_PORT = rule(
    "EXIM-ACL-PER-PORT",
    ACL,
    "approximated",
    "an ACL chosen per connection: every class gets only what all of them allow",
    "use listener tags ('listen ... tag NAME', 'match tag NAME ...') to restore per-port rules",
)
ACL_RCPT_UNSET = rule(
    "EXIM-ACL-RCPT-UNSET",
    ACL,
    "approximated",
    "no acl_smtp_rcpt: exim refuses every SMTP recipient",
    "nothing to do: exim accepted no SMTP recipient either",
)
ACL_NOT_EVALUATED = rule(
    "EXIM-ACL-NOT-EVALUATED",
    ACL,
    "unmapped",
    "an ACL exim runs whose statements could not be carried over (it is chosen by an expansion or called)",
    "carry its checks over by hand (per-port policy: listener tags; content checks: rspamd)",
)
ACL_UNUSED = rule(
    "EXIM-ACL-UNUSED", ACL, "ignored", "an ACL no acl_smtp_* option uses", "nothing to do: exim never ran it"
)
ACL_WARN = rule(
    "EXIM-ACL-WARN", ACL, "unmapped", "a warn that adds headers", "rspamd's milter_headers module adds headers"
)
ACL_WARN_LOG = rule(
    "EXIM-ACL-WARN-LOG", ACL, "ignored", "a warn that only logs", "nothing to do: smtpd logs every transaction"
)
ALIAS_OUTSIDE = rule(
    "EXIM-ALIAS-OUTSIDE",
    ACL,
    "approximated",
    "aliases that point outside fail: smtpd re-matches them as local mail that exim did not let relay",
    "add 127.0.0.1 and ::1 to the trusted hosts if that is acceptable",
)
FROM_LOCAL = rule(
    "EXIM-FROM-LOCAL",
    ACL,
    "approximated",
    "'from local' also covers this host's own addresses",
    "nothing to do unless this host's own addresses must not relay",
)
UNKNOWN_LOCAL_USER = rule(
    "EXIM-UNKNOWN-LOCAL-USER",
    ACL,
    "approximated",
    "smtpd refuses unknown local users at RCPT where exim bounced later",
    "nothing to do: senders now get the refusal at once",
)

# -- routers ------------------------------------------------------------------------------------
ROUTER_ACCEPT_ANY_USER = rule(
    "EXIM-ROUTER-ACCEPT-ANY-USER",
    ROUTING,
    "approximated",
    "exim delivers any local part; smtpd delivers to system users only",
    "add a virtual table or userbase for mailboxes without system accounts",
)
ROUTER_ACCEPT_REMOTE = rule(
    "EXIM-ROUTER-ACCEPT-REMOTE",
    ROUTING,
    "unmapped",
    "local delivery for non-local domains",
    "add an action and a match rule for those domains by hand",
)
ROUTER_DOMAINS = rule(
    "EXIM-ROUTER-DOMAINS",
    ROUTING,
    "unmapped",
    "a router for only some domains of a class",
    "put those domains in a named domain list of their own",
)
ROUTER_DOMAINS_EXPANDED = rule(
    "EXIM-ROUTER-DOMAINS-EXPANDED",
    ROUTING,
    "unmapped",
    "a router whose domains depend on an expansion",
    "list the domains in a named domain list, or add a match rule by hand",
)
ROUTER_DRIVER = rule(
    "EXIM-ROUTER-DRIVER",
    ROUTING,
    "unmapped",
    "a router driver with no OpenSMTPD equivalent",
    "route these addresses with a match rule and action by hand if still needed",
    replaces=("EXIM-ROUTER-IPLITERAL", "EXIM-ROUTER-QUERYPROGRAM", "EXIM-ROUTER-IPLOOKUP"),
)
ROUTER_FORWARD_FILTER = rule(
    "EXIM-ROUTER-FORWARD-FILTER",
    ROUTING,
    "approximated",
    "smtpd reads ~/.forward but not exim filter files",
    "users with '# Exim filter' files need sieve or procmail instead",
)
ROUTER_IGNORE_TARGET_HOSTS = rule(
    "EXIM-ROUTER-IGNORE-TARGET-HOSTS",
    ROUTING,
    "approximated",
    "a dnslookup router's ignore_target_hosts (MX hosts at these addresses skipped): smtpd has no equivalent",
    "nothing for public MX records; give a domain whose MX points at such an address a route of its own",
)
ROUTER_LOCAL_PARTS_EXCEPT = rule(
    "EXIM-ROUTER-LOCAL-PARTS-EXCEPT",
    ROUTING,
    "approximated",
    "a router for every local part but a few: smtpd delivers those like any other",
    "add aliases for them if exim routed them elsewhere",
)
ROUTER_PER_ADDRESS = rule(
    "EXIM-ROUTER-PER-ADDRESS",
    ROUTING,
    "unmapped",
    "a router that selects addresses one by one (condition, senders, local_parts...)",
    "route these addresses with a match rule and action by hand if still needed",
    replaces=(
        "EXIM-ROUTER-CONDITION",
        "EXIM-ROUTER-SENDERS",
        "EXIM-ROUTER-LOCAL-PARTS",
        "EXIM-ROUTER-LOCAL-PART-PREFIX",
        "EXIM-ROUTER-LOCAL-PART-SUFFIX",
        "EXIM-ROUTER-VERIFY-ONLY",
    ),
)
ROUTER_REDIRECT = rule(
    "EXIM-ROUTER-REDIRECT",
    ROUTING,
    "unmapped",
    "a redirect that is neither an aliases file nor per-domain alias files",
    "turn it into an aliases file, or a virtual table by hand",
)
ROUTER_REQUIRE_FILES = rule(
    "EXIM-ROUTER-REQUIRE-FILES",
    ROUTING,
    "unmapped",
    "require_files is tested per address",
    "route these addresses with a match rule and action by hand if still needed",
)
ROUTER_ROUTE_DATA = rule(
    "EXIM-ROUTER-ROUTE-DATA",
    ROUTING,
    "unmapped",
    "a route_data other than a per-domain lsearch map",
    "give each next hop its own route_list entry",
)
ROUTER_ROUTE_DATA_EMPTY = rule(
    "EXIM-ROUTER-ROUTE-DATA-EMPTY",
    ROUTING,
    "unmapped",
    "an empty route in a relay map",
    "give the domain a next hop in the map",
)
ROUTER_ROUTE_DATA_FILE = rule(
    "EXIM-ROUTER-ROUTE-DATA-FILE",
    ROUTING,
    "unmapped",
    "a relay map that cannot be read",
    "give --root a copy of the server's tree with the map",
)
ROUTER_ROUTE_DATA_MISSING = rule(
    "EXIM-ROUTER-ROUTE-DATA-MISSING",
    ROUTING,
    "unmapped",
    "a relay map without an entry for every relay domain",
    "add the missing domains to the map",
)
ROUTER_ROUTE_HOSTS = rule(
    "EXIM-ROUTER-ROUTE-HOSTS",
    ROUTING,
    "approximated",
    "smtpd uses only the first host of each route",
    "list fallback hosts as extra MX records, or accept one next hop",
)
ROUTER_ROUTE_MISSING = rule(
    "EXIM-ROUTER-ROUTE-MISSING",
    ROUTING,
    "unmapped",
    "no route for a relay domain",
    "add a route_list entry for the domain",
)
ROUTER_TRANSPORT = rule(
    "EXIM-ROUTER-TRANSPORT",
    ROUTING,
    "unmapped",
    "a transport that is undefined or expanded",
    "name a transport defined in the transports section",
)
ROUTER_VIRTUAL_ORDER = rule(
    "EXIM-ROUTER-VIRTUAL-ORDER",
    ROUTING,
    "unmapped",
    "a second alias lookup: smtpd takes one per action",
    "merge the alias lookups into one file or table",
)
DRIVER_UNUSED = rule(
    "EXIM-DRIVER-UNUSED",
    ROUTING,
    "unmapped",
    "a router or transport no migrated route uses",
    "route these addresses with a match rule and action by hand if still needed",
    replaces=("EXIM-DRIVER-*",),
)

# -- delivery --------------------------------------------------------------------------------------
ALIASES_SECOND = rule(
    "EXIM-ALIASES-SECOND", DELIVERY, "unmapped", "a second aliases file: smtpd's action takes one", "merge the files"
)
TRANSPORT_ADDRESS = rule(
    "EXIM-TRANSPORT-ADDRESS",
    DELIVERY,
    "approximated",
    "smtpd delivers pipes and files named in aliases and .forward itself",
    "nothing to do: pipes and files in aliases and .forward keep working",
)
TRANSPORT_QUOTA = rule(
    "EXIM-TRANSPORT-QUOTA",
    DELIVERY,
    "unmapped",
    "a mailbox quota: smtpd delivers whatever the mailbox holds",
    "enforce quotas in the IMAP server (dovecot's quota plugin) or with filesystem quotas",
)
TRANSPORT_DETAIL = rule(
    "EXIM-TRANSPORT-DETAIL",
    DELIVERY,
    "approximated",
    "a detail of a local delivery smtpd does its own way (file modes, added headers)",
    "nothing to do unless something reads those modes or headers",
)
TRANSPORT_DIRECTORY = rule(
    "EXIM-TRANSPORT-DIRECTORY",
    DELIVERY,
    "unmapped",
    "a directory delivery that is not maildir",
    "deliver to Maildir, or through an mda command",
)
TRANSPORT_DRIVER = rule(
    "EXIM-TRANSPORT-DRIVER",
    DELIVERY,
    "unmapped",
    "a transport driver smtpd cannot use for local delivery",
    "deliver through an mda command by hand",
    replaces=("EXIM-TRANSPORT-SMTP", "EXIM-TRANSPORT-AUTOREPLY"),
)
TRANSPORT_LMTP = rule(
    "EXIM-TRANSPORT-LMTP",
    DELIVERY,
    "unmapped",
    "LMTP that is not to a fixed socket",
    "point 'lmtp' at a fixed socket or host:port by hand",
)
TRANSPORT_MBOX_PATH = rule(
    "EXIM-TRANSPORT-MBOX-PATH",
    DELIVERY,
    "approximated",
    "smtpd's mbox is always /var/mail/USER",
    "move the mailboxes to /var/mail, or deliver with an mda command",
)
TRANSPORT_PIPE = rule(
    "EXIM-TRANSPORT-PIPE",
    DELIVERY,
    "unmapped",
    "a pipe command with expansions smtpd cannot express",
    "write the command with smtpd's %{...} format specifiers by hand",
)
TRANSPORT_UNUSED = rule(
    "EXIM-TRANSPORT-UNUSED",
    DELIVERY,
    "ignored",
    "a transport no router uses",
    "nothing to do: exim did not use it either",
)
VIRTUAL_DIR = rule(
    "EXIM-VIRTUAL-DIR",
    DELIVERY,
    "unmapped",
    "the per-domain alias directory cannot be read",
    "give --root a copy of the server's tree with the directory",
)
VIRTUAL_ENTRIES = rule(
    "EXIM-VIRTUAL-ENTRIES",
    DELIVERY,
    "approximated",
    "alias entries smtpd's virtual table cannot hold",
    "deliver them through an aliases entry or an mda action by hand",
)
VIRTUAL_FALLTHROUGH = rule(
    "EXIM-VIRTUAL-FALLTHROUGH",
    DELIVERY,
    "approximated",
    "local parts missing from a domain's file went on to exim's next routers; smtpd refuses them",
    "give --root a copy of the server's /etc, or add those local parts to the domain's file",
)
VIRTUAL_NO_ACTION = rule(
    "EXIM-VIRTUAL-NO-ACTION",
    DELIVERY,
    "unmapped",
    "per-domain alias files with no local delivery to build their action on",
    "add a local delivery action and 'virtual <table>' by hand, or migrate the alias files to an aliases table",
)
ALIASES_NO_ACTION = rule(
    "EXIM-ALIASES-NO-ACTION",
    DELIVERY,
    "unmapped",
    "aliases for the local domains whose delivery routers were left out: no local action to expand them in",
    "migrate the local delivery (see the routers reported beside this one), then the aliases come with it",
)
VIRTUAL_NOT_LOCAL = rule(
    "EXIM-VIRTUAL-NOT-LOCAL",
    DELIVERY,
    "unmapped",
    "virtual domains that are not local domains in the ACL",
    "add those domains to local_domains in exim, or add rules for them by hand",
)
ALIASES_EXIM_VALUES = rule(
    "EXIM-ALIASES-EXIM-VALUES",
    DELIVERY,
    "approximated",
    "the aliases file uses values only exim understands (:blackhole:, :fail:, :defer:, :unknown:): smtpd reads "
    "a translated copy (/dev/null, error:550 and error:451 with exim's text)",
    "nothing to do: keep editing the copy from now on (smtpd does not read exim's special values)",
)
ALIASES_VALUE_LEFT_OUT = rule(
    "EXIM-ALIASES-VALUE-LEFT-OUT",
    DELIVERY,
    "unmapped",
    "an aliases entry whose exim value smtpd cannot express: left out of the copy, so smtpd refuses the address",
    "give the key a value smtpd's aliases(5) takes (addresses, /dev/null, error:CODE text) in the copy by hand",
    place="table",
)

HOSTED_FALLTHROUGH = rule(
    "EXIM-HOSTED-FALLTHROUGH",
    DELIVERY,
    "unmapped",
    "a router after the hosted mailbox list that took the local parts it does not list",
    "list those local parts in the mailbox files, or add them to the hosted virtual table by hand",
)
HOSTED_FILE_CONDITION = rule(
    "EXIM-HOSTED-FILE-CONDITION",
    DELIVERY,
    "approximated",
    "a hosted-domain router run only where a per-domain file exists, and none exists under --root: left out",
    "if a domain gets that file later (a panel's filter, a suspension flag), migrate what it does by hand",
)
HOSTED_OWNER = rule(
    "EXIM-HOSTED-OWNER",
    DELIVERY,
    "approximated",
    "hosted mailboxes delivered as each domain's owner (a system user looked up per domain)",
    "check that each owner exists on the new host and can write the mail directories",
)
TRANSPORT_HOSTED = rule(
    "EXIM-TRANSPORT-HOSTED",
    DELIVERY,
    "unmapped",
    "a hosted-domain transport smtpd cannot express (not a maildir, LMTP socket or plain pipe command)",
    "write the action for the hosted domains by hand",
)
HOSTED_ENTRIES = rule(
    "EXIM-HOSTED-ENTRIES",
    DELIVERY,
    "approximated",
    "hosted-domain entries smtpd's virtual table cannot hold: those addresses are refused",
    "deliver them through an aliases entry or an mda action by hand",
)
HOSTED_PARTIAL_ALIAS = rule(
    "EXIM-HOSTED-PARTIAL-ALIAS",
    DELIVERY,
    "approximated",
    "alias targets in hosted domains that fail are left out of the alias (exim bounced those copies)",
    "remove or fix the failing targets in the alias files",
)
HOSTED_FILES = rule(
    "EXIM-HOSTED-FILES",
    DELIVERY,
    "approximated",
    "a hosted domain's alias or mailbox file cannot be read: its addresses are refused",
    "give --root a copy of the server's files",
)
HOSTED_SQL = rule(
    "EXIM-HOSTED-SQL",
    DELIVERY,
    "approximated",
    "hosted users and aliases in SQL become one query_alias of an opensmtpd table backend",
    "check a few addresses with verify against a copy of the database",
)
HOSTED_ACCOUNT = rule(
    "EXIM-HOSTED-ACCOUNT",
    DELIVERY,
    "approximated",
    "hosted mailboxes are delivered as one account, given to smtpd in a userbase table",
    "check the account's uid, gid and home in the userbase table",
)
HOSTED_WILDCARD = rule(
    "EXIM-HOSTED-WILDCARD",
    DELIVERY,
    "unmapped",
    "a hosted domain that is a pattern: its per-domain files cannot be listed",
    "list the domain literally",
)

# -- content ---------------------------------------------------------------------------------------
CONTENT_AV = rule(
    "EXIM-CONTENT-AV",
    CONTENT,
    "approximated",
    "virus scanning moves to rspamd's antivirus module",
    "check rspamd's antivirus.conf against your clamd",
)
CONTENT_AV_SCANNER = rule(
    "EXIM-CONTENT-AV-SCANNER",
    CONTENT,
    "unmapped",
    "an av_scanner that is not ClamAV",
    "configure rspamd's antivirus.conf for your scanner by hand",
)
CONTENT_COMBINED = rule(
    "EXIM-CONTENT-COMBINED",
    CONTENT,
    "unmapped",
    "a content check combined with conditions rspamd settings cannot express",
    "write an rspamd composite or force_actions rule by hand",
)
CONTENT_DNSBL = rule(
    "EXIM-CONTENT-DNSBL",
    CONTENT,
    "approximated",
    "dnslists become rspamd rbl rules",
    "check rspamd's rbl.conf; the check runs at the end of DATA, not at RCPT",
)
CONTENT_DNSBL_ITEM = rule(
    "EXIM-CONTENT-DNSBL-ITEM",
    CONTENT,
    "unmapped",
    "a dnslists item that cannot be mapped",
    "add the blocklist to rspamd's rbl.conf by hand",
)
CONTENT_DNSBL_NEGATED = rule(
    "EXIM-CONTENT-DNSBL-NEGATED", CONTENT, "unmapped", "a negated dnslists", "write an rspamd rule by hand"
)
CONTENT_RATELIMIT = rule(
    "EXIM-CONTENT-RATELIMIT",
    CONTENT,
    "approximated",
    "a ratelimit becomes an rspamd bucket",
    "check rspamd's ratelimit.conf; install and run Redis",
)
CONTENT_RATELIMIT_KEY = rule(
    "EXIM-CONTENT-RATELIMIT-KEY",
    CONTENT,
    "unmapped",
    "a ratelimit key with no rspamd selector",
    "write an rspamd ratelimit rule with a selector by hand",
)
CONTENT_SPAM = rule(
    "EXIM-CONTENT-SPAM",
    CONTENT,
    "unmapped",
    "spam scanning is done by rspamd with OpenSMTPD",
    "configure rspamd's actions.conf and filter-rspamd",
)
CONTENT_SPAM_ALWAYS = rule(
    "EXIM-CONTENT-SPAM-ALWAYS",
    CONTENT,
    "unmapped",
    "a deny on every scanned message",
    "set rspamd's reject action by hand",
)
CONTENT_SPAM_HEADER = rule(
    "EXIM-CONTENT-SPAM-HEADER",
    CONTENT,
    "approximated",
    "a spam header threshold becomes rspamd's add_header",
    "check the add_header threshold in rspamd's actions.conf",
)
CONTENT_SPAM_HEADERS = rule(
    "EXIM-CONTENT-SPAM-HEADERS",
    CONTENT,
    "approximated",
    "spam headers become rspamd's milter_headers",
    "update mail filters that read exim's spam header names",
)
CONTENT_SPAM_OTHER = rule(
    "EXIM-CONTENT-SPAM-OTHER",
    CONTENT,
    "unmapped",
    "a spam statement no rspamd action matches",
    "write an rspamd rule by hand",
)
CONTENT_SPAM_REJECT = rule(
    "EXIM-CONTENT-SPAM-REJECT",
    CONTENT,
    "approximated",
    "a spam reject threshold becomes rspamd's reject action",
    "SpamAssassin and rspamd score differently: watch the first weeks",
)
CONTENT_SPF = rule(
    "EXIM-CONTENT-SPF",
    CONTENT,
    "approximated",
    "spf results go to rspamd's spf module",
    "check rspamd's spf module and force_actions",
)
CONTENT_SPF_SCORE = rule(
    "EXIM-CONTENT-SPF-SCORE",
    CONTENT,
    "approximated",
    "SPF results are scored by rspamd",
    "nothing to do: rspamd scores SPF results",
)
DENY_LIST = rule(
    "EXIM-DENY-LIST",
    CONTENT,
    "approximated",
    "a deny on listed hosts or senders becomes an rspamd multimap rule",
    "check the multimap rule and its map file",
)
GREYLIST_OFF = rule(
    "RSPAMD-GREYLIST-OFF",
    CONTENT,
    "info",
    "rspamd's greylisting is off: OpenBSD spamd in front greylists; --greylist rspamd turns it on",
    "run --greylist rspamd if nothing greylists in front",
)
GREYLIST_RSPAMD = rule(
    "EXIM-GREYLIST-RSPAMD",
    CONTENT,
    "approximated",
    "exim's greylisting becomes rspamd's greylist module, which defers only mail scoring above its threshold",
    "lower 'greylist' in actions.conf to greylist more mail; rspamd keeps its greylist in Redis",
)
GREYLIST_LOST = rule(
    "EXIM-GREYLIST-LOST",
    CONTENT,
    "unmapped",
    "exim greylisted here; with --greylist off nothing in the output greylists",
    "run with --greylist rspamd, or greylist in front of smtpd (OpenBSD spamd)",
)
CONTENT_NO_FILTER = rule(
    "EXIM-CONTENT-NO-FILTER",
    CONTENT,
    "unmapped",
    "a content check whose rspamd filter is on no listener that carried that mail",
    "attach 'filter \"rspamd\"' to the listeners that receive this mail",
)

# -- DKIM --------------------------------------------------------------------------------------------
DKIM_RSPAMD = rule(
    "EXIM-DKIM-RSPAMD",
    DKIM,
    "approximated",
    "rspamd's dkim_signing signs mail from the local socket, the trusted networks and authenticated users",
    "check dkim_signing.conf: the key (readable by rspamd's user), the selector and sign_networks",
    replaces=("EXIM-DKIM-PATHS",),
)
DKIM_NETWORK = rule(
    "EXIM-DKIM-NETWORK",
    DKIM,
    "approximated",
    "a trusted network rspamd cannot be told about: its mail is relayed but not signed",
    "list the network's addresses in sign_networks of dkim_signing.conf",
)
DKIM_UNMAPPED = rule(
    "EXIM-DKIM-UNMAPPED",
    DKIM,
    "unmapped",
    "DKIM signing that was not migrated: nothing in the output signs mail",
    "set up rspamd's dkim_signing (dkim_signing.conf) by hand, with filter-rspamd on every listener",
    place="listen",
)

# -- limits ---------------------------------------------------------------------------------------------
DELAY_WARNING = rule(
    "EXIM-DELAY-WARNING",
    LIMITS,
    "approximated",
    "delay warnings become one bounce warn-interval",
    "nothing to do unless users relied on several warnings",
)
RETRY = rule(
    "EXIM-RETRY",
    LIMITS,
    "approximated",
    "the retry schedule becomes 'queue ttl'",
    "nothing to do: check 'queue ttl' suits you",
)
RETRY_SPECIFIC = rule(
    "EXIM-RETRY-SPECIFIC",
    LIMITS,
    "unmapped",
    "per-domain or per-error retry rules",
    "nothing to do unless a domain needed its own schedule",
)
SIZE_EXPANDED = rule(
    "EXIM-SIZE-EXPANDED",
    LIMITS,
    "unmapped",
    "message_size_limit is not a plain size",
    "set 'smtp max-message-size' by hand",
)
SUFFIX_DELIMITER = rule(
    "EXIM-SUFFIX-DELIMITER",
    LIMITS,
    "approximated",
    "smtpd strips one subaddress delimiter, '+'; exim's other local_part_suffix forms are not kept",
    "tell users of those suffixes to use '+', or add aliases for the addresses they use",
)
SIZE_UNLIMITED = rule(
    "EXIM-SIZE-UNLIMITED",
    LIMITS,
    "approximated",
    "exim had no size limit; smtpd always has one",
    "raise 'smtp max-message-size' if 1G is too small",
)

# -- what the output really does --------------------------------------------------------------------------
NO_EFFECT = rule(
    "EXIM-NO-EFFECT",
    HONESTY,
    "unmapped",
    "the mapping claimed this statement, but nothing in the written files carries its effect",
    "carry it over by hand; please report the input, this is a bug in exim2smtpd",
    hard=True,
)

# -- services ------------------------------------------------------------------------------------------------
SERVICE_LOST = rule(
    "EXIM-SERVICE-LOST",
    SERVICE,
    "unmapped",
    "a service exim provided that the output does not keep",
    "see the statements listed for it; do not switch over until it is restored",
    hard=True,
)

# -- the default rule of each kind of statement and bucket --------------------------------------------------
_KINDS = ("ACL", "DRIVER", "LIST", "MACRO", "RETRY", "REWRITE", "OPTION")
DEFAULTS: dict[tuple[str, str], Rule] = {}
for _kind in _KINDS:
    for _bucket in BUCKETS:
        _id = f"EXIM-{_kind}-{_bucket.upper()}"
        DEFAULTS[(_kind, _bucket)] = rule(_id, ACCOUNTING, _bucket, f"{_kind.lower()} statement: {_bucket}")


def default(kind: str, bucket: str) -> Rule:
    """The rule of a statement that landed in ``bucket`` with no finding of its own."""
    return DEFAULTS[(kind, bucket)]


def _documented() -> list[Rule]:
    """Every rule but the per-bucket defaults, by area, then id."""
    order = list(AREAS)
    return sorted((r for r in CATALOGUE.values() if r.area != ACCOUNTING), key=lambda r: (order.index(r.area), r.id))


def reference_text() -> str:
    """The rule reference for a terminal (``exim2smtpd rules``)."""
    lines: list[str] = []
    area = ""
    for found in _documented():
        if found.area != area:
            area = found.area
            lines += ["", AREAS[area]] if lines else [AREAS[area]]
        lines.append(f"  {found.id} ({found.bucket}{', grade C' if found.hard else ''}): {found.summary}")
        if found.advice:
            lines.append(f"      advice: {found.advice}")
    return "\n".join(lines) + "\n"


def reference_markdown() -> str:
    """docs/rules.md: the same reference, as a document (a test keeps the committed file current)."""
    lines = [
        "# Rule reference",
        "",
        "Generated by `exim2smtpd rules --format markdown` from `migrate/rules.py`; do not edit by hand.",
        "Each finding in a report names one of these rules. *Bucket* is where its statements usually land;",
        "rules marked **grade C** make the readiness grade C when a statement is unmapped by them.",
    ]
    area = ""
    for found in _documented():
        if found.area != area:
            area = found.area
            lines += [
                "",
                f"## {AREAS[area]}",
                "",
                "| rule | bucket | what it means | what to do |",
                "|---|---|---|---|",
            ]
        bucket = found.bucket + (", **grade C**" if found.hard else "")
        advice = found.advice.replace("|", "\\|")
        lines.append(f"| `{found.id}` | {bucket} | {found.summary.replace('|', chr(92) + '|')} | {advice} |")
    return "\n".join(lines) + "\n"
