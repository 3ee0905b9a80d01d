"""Every statement no step claimed: ignored on purpose, mapped by an option read elsewhere, or unmapped.

This is the end of the ledger: after it, each statement read is in exactly one
bucket. ``ignored`` is kept for options about exim itself (``IGNORED_OPTIONS``).
"""

from __future__ import annotations

from migrate import rules
from migrate.mapping.context import Context
from migrate.mapping.delivery import address_transports
from migrate.mapping.routing import Delivery
from migrate.reader.expansion import Expansion, Group, Item, Operator, Variable
from migrate.reader.tree import Acl, AclStatement, Driver, MacroDefinition, NamedList, Option, RewriteRule, Statement
from migrate.rules import Rule

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
        rules.CONTENT_AV,
        "virus scanning is done by rspamd's antivirus module with OpenSMTPD",
        "configure rspamd's antivirus.conf and filter-rspamd (a later release writes them)",
    ),
    "spamd_address": (
        rules.CONTENT_SPAM,
        "spam scanning is done by rspamd with OpenSMTPD",
        "configure rspamd's actions.conf and filter-rspamd (a later release writes them)",
    ),
    "system_filter": (rules.SYSTEM_FILTER, "smtpd has no system filter", "rewrite it as rspamd rules or a filter"),
    "smtp_banner": (rules.BANNER, "smtpd's banner is fixed ('ESMTP OpenSMTPD')", "accept the change"),
    "helo_verify_hosts": (rules.HELO_VERIFY, "smtpd does not verify HELO names", "use rspamd's hfilter module"),
    "host_reject_connection": (
        rules.HOST_REJECT,
        "not migrated yet",
        "add 'filter ... phase connect match src <table> disconnect' by hand",
    ),
    "local_scan_timeout": (rules.LOCAL_SCAN, "smtpd has no local_scan", "use a filter"),
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


# appendfile options a delivery's smtpd action does not carry out, and what smtpd does instead
_QUOTA_OPTIONS = frozenset(
    {
        "quota",
        "quota_directory",
        "quota_filecount",
        "quota_is_inclusive",
        "quota_size_regex",
        "quota_warn_message",
        "quota_warn_threshold",
        "maildir_use_size_file",
        "maildir_quota_directory_regex",
        "mailbox_size",
        "mailbox_filecount",
    }
)
_DETAILS = {
    "mode": "smtpd creates mail files with its own mode (owner only)",
    "directory_mode": "smtpd creates maildir directories with its own mode (owner only)",
    "mode_fail_narrower": "smtpd creates mail files with its own mode (owner only)",
    "envelope_to_add": "smtpd adds Delivered-To (the recipient) instead of Envelope-to",
    "delivery_date_add": "smtpd adds no Delivery-date header (Received carries the time)",
}


def _delivery_options(ctx: Context, transport: Driver) -> None:
    """The options of a used local transport that smtpd's action does not carry out."""
    if transport.kind != "transport" or transport.driver not in ("appendfile", "pipe", "lmtp"):
        return
    quotas = [o for o in transport.options if o.name in _QUOTA_OPTIONS]
    if quotas:  # the delivery is carried over, its limit is not: said on the transport's own line too
        ctx.ledger.note_span(
            transport.span,
            "approximated",
            rules.TRANSPORT_QUOTA,
            f"transport {transport.name}: delivered by smtpd without its quota "
            f"({', '.join(f'{o.name}, line {o.span.line}' for o in quotas)})",
            transport.source,
            rules.TRANSPORT_QUOTA.advice,
        )
    for option in transport.options:
        if option.name in _QUOTA_OPTIONS:
            ctx.ledger.mark(
                option,
                "unmapped",
                rules.TRANSPORT_QUOTA,
                f"transport {transport.name}: {option.name}: smtpd enforces no mailbox quota, "
                "so mail over it is delivered",
                rules.TRANSPORT_QUOTA.advice,
            )
        elif option.name in _DETAILS:
            ctx.ledger.mark(
                option,
                "approximated",
                rules.TRANSPORT_DETAIL,
                f"transport {transport.name}: {option.name}: {_DETAILS[option.name]}",
                rules.TRANSPORT_DETAIL.advice,
            )


def account_drivers(ctx: Context, deliveries: dict[str, Delivery]) -> None:
    """Routers and transports: mapped when a delivery uses them, else why not."""
    used = {id(d) for delivery in deliveries.values() for d in delivery.drivers}
    taken_over = {id(t) for t in address_transports(ctx, deliveries)}
    for driver in (*ctx.config.routers, *ctx.config.transports):
        if id(driver) in used:
            _delivery_options(ctx, driver)
            ctx.ledger.mark_driver(driver, "mapped")
        elif id(driver) in taken_over:
            ctx.ledger.mark_driver(
                driver,
                "approximated",
                rules.TRANSPORT_ADDRESS,
                f"transport {driver.name}: smtpd delivers pipes and files named in aliases "
                "and .forward itself" + (" (no autoreplies)" if driver.driver == "autoreply" else ""),
            )
        elif driver.kind == "transport" and not _transport_referenced(ctx, driver):
            ctx.ledger.mark_driver(driver, "ignored", rules.TRANSPORT_UNUSED, f"transport {driver.name} is never used")


def _transport_referenced(ctx: Context, transport: Driver) -> bool:
    for router in ctx.config.routers:
        for option in router.options:
            if option.name.endswith("transport") and option.value and option.value.text.strip() == transport.name:
                return True
    return False


def account_rest(ctx: Context) -> None:
    """Put every statement no step booked in its bucket."""
    main = {id(node) for node in ctx.config.main}  # by identity: comparing statements field by field is slow
    for node in ctx.config.statements():
        if id(node) in ctx.ledger.status:
            continue
        if isinstance(node, MacroDefinition):
            ctx.ledger.mark(node, "ignored", rules.MACRO, "macro: already substituted by the reader")
        elif isinstance(node, Option) and id(node) in main and node.name in IGNORED_OPTIONS:
            ctx.ledger.mark(node, "ignored", rules.IGNORED, f"{node.name}: {IGNORED_OPTIONS[node.name]}")
        elif isinstance(node, Option) and id(node) in main and node.name in MAIN_MAPPED:
            ctx.ledger.mark(node, "mapped")
        elif isinstance(node, NamedList):
            ctx.ledger.mark(
                node, "ignored", rules.LIST_UNUSED, f"{node.kind}list {node.name} is not used by the relay policy"
            )
        elif isinstance(node, Acl | AclStatement):
            ctx.ledger.mark(node, "ignored", rules.ACL_UNUSED, "part of an ACL exim never runs")
        elif isinstance(node, Option) and id(node) in main and node.name in KNOWN_UNMAPPED:
            rule, message, advice = KNOWN_UNMAPPED[node.name]
            ctx.ledger.mark(node, "unmapped", rule, f"{node.name}: {message}", advice)
        elif isinstance(node, Driver):
            ctx.ledger.mark_driver(
                node, "unmapped", rules.DRIVER_UNUSED, _unmapped_message(node), rules.DRIVER_UNUSED.advice
            )
        else:
            rule = _unmapped_rule(node)
            ctx.ledger.mark(node, "unmapped", rule, _unmapped_message(node), rule.advice)


def account_opaque(ctx: Context) -> None:
    """A value the reader could not follow as an expansion: whatever a step made of it, it is unmapped."""
    for node in ctx.config.statements():
        expansion = _expansion(node)
        reason = expansion.opaque if expansion is not None else None
        if reason is not None:
            ctx.ledger.resolve(
                node,
                "unmapped",
                rules.EXPANSION_OPAQUE,
                f"{getattr(node, 'name', 'this value')}: an expansion the reader cannot follow ({reason}); exim reads "
                "the file and expands the value only when it uses it, so nothing in the output carries it out",
            )


SQL_LOOKUPS = ("mysql", "pgsql", "sqlite", "oracle", "ibase", "redis")


def account_sql_injection(ctx: Context) -> None:
    """A query that puts message data into SQL without ${quote_...}: injectable in exim, and said so."""
    for node in ctx.config.statements():
        expansion = _expansion(node)
        if expansion is None:
            continue
        for lookup in expansion.lookups():
            if lookup.type.split(",")[0].lstrip("-*") not in SQL_LOOKUPS:
                continue
            unquoted = sorted(set(_unquoted_variables(lookup.source)))
            if unquoted:
                ctx.ledger.note_span(
                    node.span,
                    "info",
                    rules.SQL_UNQUOTED,
                    f"{lookup.type} query puts {', '.join('$' + v for v in unquoted)} into SQL without "
                    "${quote_" + lookup.type.split(",")[0] + ":...}: a sender can inject SQL into this exim query",
                )


def _expansion(node: Statement) -> Expansion | None:
    """The statement's parsed value (macro definitions hold plain text)."""
    return getattr(getattr(node, "value", None), "expansion", None)


def _unquoted_variables(expansion: Expansion) -> list[str]:
    """Variables in ``expansion`` that no ``${quote_*:...}`` operator wraps."""
    found: list[str] = []
    for part in expansion.parts:
        if isinstance(part, Variable):
            found.append(part.name)
        elif isinstance(part, Operator) and not part.name.startswith("quote"):
            found += _unquoted_variables(part.arg)
        elif isinstance(part, Item):
            for arg in part.args:
                if isinstance(arg, Group):
                    found += _unquoted_variables(arg.body)
        elif isinstance(part, Group):
            found += _unquoted_variables(part.body)
    return found


# Options exim adds up when a driver sets them twice (opt_rep_con, opt_rep_str):
# a router's conditions must all be true; header lists are joined.
ADDING_UP = frozenset(("condition", "headers_add", "headers_remove"))


def account_overridden(ctx: Context) -> None:
    """An option set twice: exim (4.97 and later) takes the later setting, so the earlier one did nothing."""
    config = ctx.config
    drivers = (*config.routers, *config.transports, *config.authenticators)
    groups = [[s for s in config.main if isinstance(s, Option)], *(list(d.options) for d in drivers)]
    for options in groups:
        for index, option in enumerate(options):
            if option.name in ADDING_UP:
                continue
            later = next((o for o in options[index + 1 :] if o.name == option.name), None)
            if later is not None:
                ctx.ledger.resolve(
                    option,
                    "ignored",
                    rules.OVERRIDDEN,
                    f"{option.name} is set again at {later.span.file}:{later.span.line}, and exim uses that setting",
                )


def _unmapped_rule(node: Statement) -> Rule:
    if isinstance(node, Option):
        return rules.OPTION_UNMAPPED
    if isinstance(node, RewriteRule):
        return rules.REWRITE
    return rules.STATEMENT_UNMAPPED


def _unmapped_message(node: Statement) -> str:
    if isinstance(node, Option):
        return f"{node.name}: no OpenSMTPD equivalent is generated"
    if isinstance(node, Driver):
        return f"{node.kind} {node.name} ({node.driver}): not used by any migrated route"
    if isinstance(node, RewriteRule):
        return "address rewriting: smtpd has no rewrite rules"
    return f"{type(node).__name__}: no OpenSMTPD equivalent is generated"
