"""``deny domains = +local_domains condition = ${if exists{/etc/virtual/${domain}_off}}``: per-domain flag files.

Control panels suspend a hosted domain by creating a file named after it,
and the RCPT ACL refuses its mail while the file is there. smtpd cannot look
at files, but the files under ``--root`` say which domains are suspended now:
those become a table and a reject rule ahead of the others (as exim's deny
refused them), and a domain suspended after the conversion is not refused —
which the report says.
"""

from __future__ import annotations

from dataclasses import dataclass

from migrate import rules
from migrate.lookups import LookupStore
from migrate.mapping.acl import AclEvaluator
from migrate.mapping.classes import ClassUniverse
from migrate.mapping.context import Context
from migrate.mapping.hosted import file_test
from migrate.mapping.local_parts import accepted_before, rcpt_acls, with_source
from migrate.model import RECIPIENT_CLASSES, ClientClass, MatchRule, Table
from migrate.reader.tree import AclStatement


@dataclass(frozen=True)
class DomainFileDeny:
    """One deny statement decided by a file per domain: the file, and the domains that have it now."""

    statement: AclStatement
    template: str  # the file, with ${domain} in it
    domains: tuple[str, ...]  # the domains of its class that have the file
    source: tuple[str, str | None, bool] = ("any", None, False)  # ("any" | "socket" | "src", table, negated)
    exact: bool = True  # False: the rule also refuses clients an earlier accept let through


def find(
    ctx: Context,
    universe: ClassUniverse,
    names: dict[str, tuple[str, ...]],
    evaluator: AclEvaluator,
    clients: list[ClientClass],
) -> list[DomainFileDeny]:
    """The RCPT ACL's denies that test a per-domain file for one recipient class whose domains ``names`` lists."""
    found = []
    # an ACL chosen by port: its denies hold for every port here, which is stricter, never wider
    for name in dict.fromkeys(name for name, _, _ in rcpt_acls(ctx)):
        for statement in ctx.acls[name].statements:
            denied = _denied(statement, universe, names, ctx.store)
            if denied is not None:
                found.append(with_source(denied, accepted_before(ctx, name, statement, evaluator, clients)))
    return found


def _denied(
    st: AclStatement, universe: ClassUniverse, names: dict[str, tuple[str, ...]], store: LookupStore
) -> DomainFileDeny | None:
    if st.verb not in ("deny", "drop"):
        return None
    conditions = [c for c in st.conditions if not c.modifier]
    by_name = {c.name: c for c in conditions}
    if len(by_name) != len(conditions) or set(by_name) != {"domains", "condition"}:
        return None
    domains, condition = by_name["domains"], by_name["condition"]
    if domains.negated or condition.negated or domains.value is None or condition.value is None:
        return None
    template = file_test(condition.value.text)
    matched = [cls for cls in RECIPIENT_CLASSES if universe.domains_match(domains.value.text, cls) is not False]
    if template is None or len(matched) != 1 or matched[0] not in names:
        return None
    if universe.domains_match(domains.value.text, matched[0]) is not True:
        return None
    flagged = tuple(d for d in names[matched[0]] if store.is_file(template.replace("${domain}", d)))
    return DomainFileDeny(st, template, flagged)


def table(denied: DomainFileDeny) -> Table:
    return Table(f"refused_domains_line{denied.statement.span.line}", "domains", entries=denied.domains)


def book(ctx: Context, denied: DomainFileDeny) -> None:
    """The statement's finding: the domains refused now, and what smtpd will not notice later."""
    later = f"a domain that gets {denied.template} after the conversion is not refused (smtpd cannot test files)"
    if denied.domains:
        shown = ", ".join(denied.domains[:5]) + (" ..." if len(denied.domains) > 5 else "")
        also = "" if denied.exact else "; the rule also refuses clients a statement above this deny let through"
        message = f"the domains with {denied.template} under --root ({shown}) are refused ahead of all rules{also}; "
    else:
        message = f"no domain has {denied.template} under --root, so nothing is refused; "
    ctx.ledger.resolve(denied.statement, "approximated", rules.ACL_DOMAIN_FILE, message + later)
    for cond in denied.statement.conditions:
        ctx.ledger.resolve(cond, "approximated")


def reject_rule(denied: DomainFileDeny, refused: Table) -> MatchRule:
    source, source_table, negated_source = denied.source
    return MatchRule(
        source,
        source_table,
        "domain",
        refused.name,
        None,
        "exim refuses these domains while their flag file exists",
        (denied.statement.span,),
        negate_source=negated_source,
    )
