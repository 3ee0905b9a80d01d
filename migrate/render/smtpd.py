"""Render the mail-policy model to smtpd.conf (OpenSMTPD 6.4+ grammar).

Ordering, quoting and naming are decided here, in Python; the Jinja template
only lays the blocks out.  Every name and value is double-quoted, because
smtpd's grammar has many reserved words (``table senders`` is a syntax error).
The same policy always renders to the same bytes.

Each statement written carries the exim statements it carries out and its
effects, so the source map says which line does what for which statement.
"""

from __future__ import annotations

import os

from migrate.errors import Diagnostic, Span
from migrate.model import Action, Filter, Listener, MatchRule, Policy, Table
from migrate.platforms import platform as get_platform
from migrate.render.base import Block, Emitted, Target, cite, finished, generated_by, locate, make_env, quote


def render_smtpd_conf(policy: Policy, source_map: dict[Span, list[Target]] | None = None) -> str:
    """The complete smtpd.conf text for a policy; ``source_map`` collects where each exim statement went."""
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
    blocks = [b for b in blocks if b.statements or b.comments]
    pack = get_platform(policy.platform)
    text = finished(
        make_env()
        .get_template("opensmtpd/smtpd.conf.j2")
        .render(
            generated=generated_by(policy),
            install=pack.smtpd_conf,
            blocks=blocks,
        )
    )
    if source_map is not None:
        statements: list[Emitted] = [s for b in blocks for s in b.statements]
        locate("smtpd.conf", text, statements, source_map)
    return text


_TABLE_WHAT = {
    "domains": "domains",
    "networks": "networks",
    "routes": "next hop per relay domain",
    "aliases": "aliases file (same format for smtpd)",
    "virtual": "per-domain alias files as one virtual table",
    "hosted": "hosted domains' mailboxes and aliases as one virtual table",
    "userbase": "the account hosted mailboxes are delivered as (uid:gid:home)",
    "credentials": "smarthost credentials (a separate file, mode 0600)",
    "logins": "who may log in: crypt(3) hashes of the passwords exim checked (a separate file, mode 0600)",
    "addresses": "addresses",
    "regexes": "recipient addresses exim refused (regular expressions)",
}


def _table_block(table: Table, platform: str) -> Block:
    what = _TABLE_WHAT[table.kind]
    if table.kind == "aliases" and table.generated and table.sources:
        what = f"aliases file: a copy of {table.sources[0]} with exim's own values in smtpd's terms"
    if table.kind == "logins" and table.backend:
        what = f"who may log in: the hashes in exim's database, asked by table-{table.backend} (its file holds the "
        what += "database password, mode 0600)"
    block = Block([f"{cite(table.origin)}: {what}"] if table.origin else [what])
    name = quote(table.name)
    if table.backend:
        block.add(f"table {name} {quote(table.backend + ':' + table.file)}", table.origin, "table")
        return block
    if table.file:
        block.add(f"table {name} {quote('file:' + table.file)}", table.origin, "table")
        return block
    values = [f"{quote(k)} = {quote(v)}" for k, v in table.mapping] or [quote(e) for e in table.entries]
    if not values:
        block.comments.append("(empty in exim: nothing can match it)")
        return block
    if get_platform(platform).multiline_tables:  # OpenSMTPD 7.5+ takes a table over several lines
        lines = [f"table {name} {{"] + [f"\t{v}," for v in values[:-1]] + [f"\t{values[-1]}", "}"]
    else:  # 6.8, still packaged by Debian 12, needs one line: continue it with "\"
        lines = [f"table {name} {{ \\"] + [f"\t{v}, \\" for v in values[:-1]] + [f"\t{values[-1]} \\", "}"]
    block.add(lines, table.origin, "table")
    return block


def _tables(policy: Policy) -> list[Block]:
    return [_table_block(t, policy.platform) for t in policy.tables if t.file or t.entries or t.mapping]


def _pki(policy: Policy) -> list[Block]:
    blocks = []
    for cert in policy.certificates:
        name = quote(cert.name)
        origin = cert.origin + policy.identity.origin[:1]  # the certificate, and the host name it is for
        block = Block([f"{cite(origin)}: TLS certificate"])
        block.add(f"pki {name} cert {quote(cert.cert)}", origin, "pki")
        block.add(f"pki {name} key {quote(cert.key)}", origin, "pki")
        blocks.append(block)
    return blocks


def _globals(policy: Policy) -> list[Block]:
    limits = policy.limits
    block = Block([f"{cite(limits.origin)}: limits" if cite(limits.origin) else "limits (exim's defaults)"])
    if limits.max_message_size:
        block.add(f"smtp max-message-size {limits.max_message_size}", limits.origin, "global")
    if limits.queue_ttl:
        block.add(f"queue ttl {limits.queue_ttl}", limits.origin, "global")
    if limits.bounce_warn_interval:
        block.add(f"bounce warn-interval {limits.bounce_warn_interval}", limits.origin, "global")
    if limits.sub_addr_delim:
        block.comments.append("no exim router strips a +tag (local_part_suffix): nor does smtpd")
        block.add(f"smtp sub-addr-delim {quote(limits.sub_addr_delim)}", (), "global")
    return [block] if block.statements else []


def _chain_name(names: tuple[str, ...]) -> str:
    return "_".join(names)


def _filter_ref(names: tuple[str, ...]) -> str:
    return f" filter {quote(names[0] if len(names) == 1 else _chain_name(names))}" if names else ""


_FILTER_WHAT = {
    "rspamd": "rspamd does what exim's ACLs did to content",
    "rspamd_sign": "rspamd signs (DKIM) what exim's smtp transport signed",
}


def _filters(policy: Policy) -> list[Block]:
    if not policy.filters:
        return []
    block = Block(["content filtering: " + "; ".join(_FILTER_WHAT[f.name] for f in policy.filters)])
    for f in policy.filters:
        line = f"filter {quote(f.name)} proc-exec {quote(f.command)}"
        if f.user:
            line += f" user {quote(f.user)}"
        if f.group:
            line += f" group {quote(f.group)}"
        block.add(line, f.origin, f"filter:{f.name}")
    chains = {li.filters for li in policy.listeners if len(li.filters) > 1}
    for names in sorted(chains):
        line = f"filter {quote(_chain_name(names))} chain {{ {', '.join(quote(n) for n in names)} }}"
        block.add(line, _filter_origin(policy, names), *(f"filter:{n}" for n in names))
    return [block]


def _filter_origin(policy: Policy, names: tuple[str, ...]) -> tuple[Span, ...]:
    found: dict[str, Filter] = {f.name: f for f in policy.filters}
    return tuple(span for name in names if name in found for span in found[name].origin)


def _listen_line(listener: Listener) -> str:
    where = listener.address if listener.address == "all" else quote(listener.address)
    port = "submission" if listener.port == 587 else str(listener.port)
    parts = [f"listen on {where} port {port}"]
    if listener.tls == "starttls":
        parts.append("tls")
    elif listener.tls == "require":
        parts.append("tls-require")
    elif listener.tls == "smtps":
        parts.append("smtps")
    if listener.pki:
        parts.append(f"pki {quote(listener.pki)}")
    parts += [f"pki {quote(name)}" for name in listener.sni]  # the default first: libtls falls back to it
    if listener.hostname:
        parts.append(f"hostname {quote(listener.hostname)}")
    logins = f" <{listener.logins}>" if listener.logins else ""
    if listener.auth == "optional":
        parts.append("auth-optional" + logins)
    elif listener.auth == "required":
        parts.append("auth" + logins)
    if listener.tag:
        parts.append(f"tag {quote(listener.tag)}")
    return " ".join(parts) + _filter_ref(listener.filters)


def _listen_effects(listener: Listener) -> tuple[str, ...]:
    effects = ["listen"]
    if listener.tls != "none":
        effects.append(f"listen:{'smtps' if listener.tls == 'smtps' else 'tls'}")
    if listener.auth != "none":
        effects.append("listen:auth")
    effects += [f"listen:filter:{name}" for name in listener.filters]
    return tuple(effects)


def _listen(policy: Policy) -> Block:
    origin = tuple(span for listener in policy.listeners for span in listener.origin)
    block = Block(
        [f"{cite(origin)}: where exim listened" if cite(origin) else "exim's default: port 25 on every address"]
    )
    socket_effects = ("listen:socket", *(f"listen:filter:{name}" for name in policy.socket_filters))
    block.add(
        "listen on socket" + _filter_ref(policy.socket_filters),
        _filter_origin(policy, policy.socket_filters),
        *socket_effects,
    )
    for listener in policy.listeners:
        carried = listener.origin + _filter_origin(policy, listener.filters)
        if listener.auth != "none":
            carried += policy.auth_origin
        emitted = block.add(_listen_line(listener), carried, *_listen_effects(listener))
        if listener.hostname:
            emitted.claims.append((policy.identity.origin[:1], ("listen:hostname",)))
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
        if action.helo:
            line += f" helo {quote(action.helo)}"
        return line
    method = {
        "mbox": "mbox",
        "maildir": f"maildir {quote(action.path)}" if action.path else "maildir",
        "lmtp": f"lmtp {quote(action.path)} rcpt-to",
        "mda": f"mda {quote(action.path)}",
        "forward-only": "forward-only",
    }[action.method]
    line = f"action {name} {method}"
    if action.virtual_table:
        line += f" virtual <{action.virtual_table}>"
    elif action.alias_table:
        line += f" alias <{action.alias_table}>"
    if action.userbase_table:
        line += f" userbase <{action.userbase_table}>"
    return line


def _actions(policy: Policy) -> list[Block]:
    blocks = []
    for action in policy.actions:
        block = Block(
            [f"{cite(action.origin)}: {_ACTION_WHAT.get(action.name, action.name)}"] if cite(action.origin) else []
        )
        effects = ["action", *(["action:auth"] if action.auth_table else [])]
        emitted = block.add(_action_line(action), action.origin + action.auth_origin, *effects)
        if action.helo:
            emitted.claims.append((policy.identity.origin[:1], ("action:helo",)))
        blocks.append(block)
    return blocks


_ACTION_WHAT = {
    "local": "local delivery",
    "relay_domains": "relay domains to their own mail hosts",
    "outbound": "everything else goes out",
    "virtual": "local delivery through the per-domain alias files",
    "hosted": "hosted domains: mailboxes without system accounts",
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
    if rule.negate_source:
        source = "! " + source
    if rule.negate_destination:
        destination = "! " + destination
    if rule.rcpt_regex_table:
        destination += f" rcpt-to regex <{rule.rcpt_regex_table}>"
    decision = f"action {quote(rule.action)}" if rule.action else "reject"
    tag = f"tag {quote(rule.tag)} " if rule.tag else ""
    return f"match {tag}{source} {destination} {decision}"


def _matches(policy: Policy) -> Block:
    block = Block(["who may send where: first match wins, and anything unmatched is refused"])
    for rule in policy.rules:
        emitted = block.add(_match_line(rule), rule.origin, "match:accept" if rule.action else "match:reject")
        emitted.claims.append((policy.policy_origin, ("match",)))
    if not policy.rules:
        block.comments.append("exim accepted no recipient class that could be migrated: nothing is accepted")
        block.add("match from any for any reject", policy.policy_origin, "match:reject-all")
    return block


def _gaps_by_place(policy: Policy) -> dict[str, list[str]]:
    places: dict[str, list[str]] = {"table": [], "global": [], "listen": [], "action": [], "match": []}
    for finding in policy.findings:
        if finding.severity == "unmapped":
            places[finding.rule.place].append(_gap(finding))
    return places


def _with_gaps(blocks: list[Block], gaps: list[str]) -> list[Block]:
    """Put the not-migrated notes in front of the section they belong to."""
    if not gaps:
        return blocks
    note = Block(["exim statements that would go here but are not migrated (see the report):", *gaps])
    return [note, *blocks]


def _gap(finding: Diagnostic) -> str:
    where = (
        f"{os.path.basename(finding.span.file)}:{finding.span.line}"
        if finding.span.line
        else os.path.basename(finding.span.file)
    )
    return f"exim {where} not migrated [{finding.rule.id}]: {finding.message}"
