"""Terminal view of a parse tree, for ``exim2smtpd parse`` (rich; plain when piped)."""

from __future__ import annotations

import os

from rich.console import Console
from rich.markup import escape
from rich.tree import Tree

from migrate.reader.tree import Acl, Driver, EximConfig, MacroDefinition, NamedList, Option, Value
from migrate.redact import HIDDEN, is_secret, redact_text


def _where(node: object) -> str:
    span = node.span  # type: ignore[attr-defined]
    return f"[dim]{escape(os.path.basename(span.file))}:{span.line}[/dim]"


def _value(value: Value | None, hidden: bool = False) -> str:
    if value is None:
        return ""
    text = HIDDEN if hidden else redact_text(value.raw)
    return " = " + escape(text if len(text) <= 100 else text[:97] + "...")


def _option(option: Option) -> str:
    prefix = "no_" if option.negated else ""
    hide = "hide " if option.hidden else ""
    secret = is_secret(option.name, option.hidden)
    return f"{hide}[bold]{prefix}{escape(option.name)}[/bold]{_value(option.value, secret)}  {_where(option)}"


def build_tree(config: EximConfig) -> Tree:
    """Arrange the configuration as sections, blocks and statements."""
    root = Tree(f"[bold]{escape(config.path)}[/bold]  ({len(config.files)} file(s))")
    main = root.add("[cyan]main[/cyan]")
    for node in config.main:
        if isinstance(node, NamedList):
            label = f"[green]{node.kind}list[/green] [bold]{escape(node.name)}[/bold]"
            entry = main.add(f"{label} ({len(node.items)} items)  {_where(node)}")
            for item in node.items:
                text = HIDDEN if node.hidden else redact_text(item.text)
                entry.add(f"{escape(text or '(empty)')} [dim]{item.kind}[/dim]")
        elif isinstance(node, MacroDefinition):
            main.add(f"[magenta]macro[/magenta] {escape(node.name)} ({node.effect})  {_where(node)}")
        else:
            main.add(_option(node))
    if config.acls:
        section = root.add("[cyan]acl[/cyan]")
        for acl in config.acls:
            _add_acl(section, acl)
    for title, drivers in (
        ("routers", config.routers),
        ("transports", config.transports),
        ("authenticators", config.authenticators),
    ):
        if drivers:
            section = root.add(f"[cyan]{title}[/cyan]")
            for driver in drivers:
                _add_driver(section, driver)
    if config.retry:
        section = root.add("[cyan]retry[/cyan]")
        for rule in config.retry:
            steps = "; ".join(f"{s.algorithm},{s.cutoff},{','.join(s.params)}" for s in rule.steps)
            section.add(f"{escape(rule.pattern)} {escape(rule.error)} {escape(steps)}  {_where(rule)}")
    if config.rewrite:
        section = root.add("[cyan]rewrite[/cyan]")
        for rw in config.rewrite:
            section.add(f"{escape(rw.pattern)} {escape(rw.replacement.raw)} {rw.flags}  {_where(rw)}")
    if config.section_macros:
        section = root.add("[cyan]macros between blocks[/cyan]")
        for macro in config.section_macros:
            section.add(f"{escape(macro.name)} ({macro.effect})  {_where(macro)}")
    return root


def _add_acl(parent: Tree, acl: Acl) -> None:
    node = parent.add(f"[bold]{escape(acl.name)}[/bold]  {_where(acl)}")
    for statement in acl.statements:
        verb = node.add(f"[yellow]{statement.verb}[/yellow]  {_where(statement)}")
        for cond in statement.conditions:
            bang = "!" if cond.negated else ""
            var = f" {cond.variable}" if cond.variable else ""
            verb.add(f"{bang}{escape(cond.name)}{escape(var)}{_value(cond.value)}  {_where(cond)}")


def _add_driver(parent: Tree, driver: Driver) -> None:
    node = parent.add(f"[bold]{escape(driver.name)}[/bold] [green]{driver.driver}[/green]  {_where(driver)}")
    for option in driver.options:
        if option.name != "driver":
            node.add(_option(option))


def print_tree(config: EximConfig) -> None:
    """Print the tree on stdout; colour only on a terminal, NO_COLOR honoured."""
    console = Console(no_color="NO_COLOR" in os.environ or None, soft_wrap=True)
    console.print(build_tree(config))
