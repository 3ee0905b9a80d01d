"""Proof of equivalence: the real exim and the real smtpd, asked the same questions.

``verify`` converts (or reads an existing output directory), generates probe
cases from the policy, asks both daemons, and compares case by case:
``same``, ``differs`` or ``not comparable`` (with the reason). A case where
smtpd accepts what exim refused is a security regression and is flagged first.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from migrate import rules
from migrate.commands.convert import convert
from migrate.mapping.routing import virtual_files
from migrate.model import Policy
from migrate.options import Options
from migrate.reader.debian import resolve
from migrate.reader.tree import EximConfig
from migrate.verify import daemons, exim_side, smtpd_side
from migrate.verify.adapt import throwaway_pki
from migrate.verify.cases import Case, generate, read_cases
from migrate.verify.exim_side import Answer, Progress, SideError, quiet
from migrate.verify.oracle import COMMAND, FAIL, SUCCEED, dns_free_config
from migrate.verify.root_files import RootIncomplete, missing_files

SAME, DIFFERS, NOT_COMPARABLE = "same", "differs", "not comparable"
INHERENT_UNROUTABLE = (
    "inherent difference: exim accepts at RCPT what its routers then fail (it bounces later); smtpd refuses it at once"
)
INHERENT_UNKNOWN_USER = "inherent difference: smtpd refuses unknown local users at RCPT, exim accepts and bounces later"


@dataclass(frozen=True)
class Outcome:
    """One case, both answers, and the verdict."""

    case: Case
    exim: Answer
    smtpd: Answer
    verdict: str
    reason: str = ""
    regression: bool = False


@dataclass(frozen=True)
class VerifyResult:
    """Every outcome, regressions first."""

    outcomes: tuple[Outcome, ...]
    notes: tuple[str, ...] = ()  # what the question put to exim left out, and why

    @property
    def return_code(self) -> int:
        """0 when every comparable case agrees, 2 when any differs."""
        return 2 if any(o.verdict == DIFFERS for o in self.outcomes) else 0

    def counts(self) -> dict[str, int]:
        """How many cases got each verdict."""
        totals = {SAME: 0, DIFFERS: 0, NOT_COMPARABLE: 0}
        for outcome in self.outcomes:
            totals[outcome.verdict] += 1
        return totals


def verify(
    configure: str,
    out_dir: str | None = None,
    options: Options | None = None,
    *,
    defines: dict[str, str] | None = None,
    cases_file: str | None = None,
    root: str | None = None,
    exim: str | None = None,
    smtpd: str | None = None,
    debian: bool = False,
    system: str | None = None,
    progress: Progress | None = None,
) -> VerifyResult:
    """Ask both daemons every case; raise SideError when either cannot be asked.

    With ``options.debian``, ``configure`` is a Debian /etc/exim4 and exim is asked
    about the file update-exim4.conf would write, with the init script's -D macros.
    (``defines``, ``root`` and ``debian`` build the options when none are given.)
    ``system`` (or $EXIM2SMTPD_SMTPD_ROOT) is a Debian system root whose smtpd is asked
    instead of this machine's (``migrate.verify.system``): the tests run OpenSMTPD that way.
    ``exim``, ``smtpd`` and ``system`` not given are found as ``daemons.find`` says,
    after the input is checked. ``progress`` hears how many cases each daemon has answered.
    Raises RootIncomplete, before either daemon is asked, when the ``root`` copy
    lacks a file that would make them see different servers (``root_files``).
    """
    progress = progress or quiet
    options = options or Options(defines=dict(defines or {}), root=root or "/", debian=debian)
    defines = dict(options.defines)
    root = options.root if options.root != "/" else None
    result = convert(configure, options)
    commands = _command_lines(result.config)
    generated = resolve(configure, options.root) if options.debian else None
    if generated is not None:
        defines = dict(generated.daemon.defines) | defines
    text, files = asked_output(result.files, out_dir)
    policy = result.policy
    root_path = Path(root).resolve() if root else None
    missing = missing_files(result.config, root_path, defines, debian=options.debian)
    if missing:
        raise RootIncomplete(tuple(missing))
    relocate = _lookup_files(policy, root_path)
    _sqlite_database(result.config, root_path)
    cases = generate(policy, _domains(policy))
    cases += _alias_cases(policy, relocate, cases)
    cases += _hosted_cases(result.config, root_path, cases)
    cases += _mailbox_cases(policy, cases)
    if cases_file:
        cases += _on_each_auth_port(policy, read_cases(Path(cases_file)))
    found = daemons.find(exim, smtpd, system)
    workdir = Path(tempfile.mkdtemp(prefix="exim2smtpd-verify-"))
    try:
        workdir.chmod(0o755)  # exim -bh reads the config as the exim user
        source = Path(configure)
        if generated is not None:
            source = workdir / "update-exim4.conf.out"
            source.write_text(generated.text, errors="surrogateescape")
        dropped: list[str] = []
        certificate = _exim_certificate(workdir)
        # the configuration as convert read it, when exim reads the same (no includes, which --root moves)
        already = result.config if generated is None and len(result.config.files) == 1 else None

        def oracle_config(name: str, replacement: str) -> Path:
            return dns_free_config(
                source,
                defines,
                workdir / name,
                relocate,
                _private_spool(workdir / name.replace(".conf", "")),
                policy.identity.own_name,
                root_path,
                dropped,
                replacement,
                certificate,
                already,
            )

        oracle = oracle_config("exim.conf", FAIL)
        exim_binary = found.exim
        exim_side.check_config(exim_binary, oracle, defines)
        exim_answers = exim_side.ask(exim_binary, oracle, defines, cases, progress)
        if commands:  # asked again with each command succeeding: the answers that change, the commands decide
            succeeding = oracle_config("exim-commands-succeed.conf", SUCCEED)
            again = exim_side.ask(exim_binary, succeeding, defines, cases, progress, "exim again (commands say yes)")
            exim_answers = _decided_by_commands(exim_answers, again, commands)
        smtpd_answers = smtpd_side.ask(
            found.smtpd, text, cases, workdir / "smtpd", root_path, files, found.system, progress
        )
        helo = helo_checks(result.config, policy)
        outcomes = [_compare_or_not(policy, c, exim_answers[c], smtpd_answers[c], helo) for c in cases]
        chains: dict[str, list[str]] = {}
        outcomes = [_explain(o, policy, exim_binary, oracle, defines, chains) for o in outcomes]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    outcomes.sort(key=lambda o: (not o.regression, o.verdict != DIFFERS))
    notes = tuple(_command_notes(commands)) + tuple(
        f"{name} is left out of the configuration exim is asked about: it tunes one TLS library, and the exim "
        "here may be built with the other (it does not decide who may send where)"
        for name in dropped
    )
    return VerifyResult(tuple(outcomes), notes)


def asked_output(converted: dict[str, str], out_dir: str | None) -> tuple[str, dict[str, str]]:
    """smtpd.conf and the files beside it that smtpd is asked about: ``out_dir``'s when given, else the conversion's."""
    if out_dir is None:
        return converted["smtpd.conf"], converted
    files = {p.name: p.read_text(errors="surrogateescape") for p in Path(out_dir).iterdir() if p.is_file()}
    return (Path(out_dir) / "smtpd.conf").read_text(errors="surrogateescape"), files


def _on_each_auth_port(policy: Policy, cases: list[Case]) -> list[Case]:
    """A login case without a port, once per port where smtpd offers AUTH (exim is asked about each)."""
    ports = sorted({li.port for li in policy.listeners if li.auth != "none"}) or [587]
    return [replace(c, port=p) for c in cases for p in (ports if c.login and not c.port else [c.port])]


def _exim_certificate(workdir: Path) -> tuple[Path, Path]:
    """A throw-away certificate and key exim's user can read: exim starts TLS for the logins with it."""
    directory = workdir / "exim-tls"
    directory.mkdir()
    cert, key = throwaway_pki(directory)
    key.chmod(0o644)  # exim -bh starts TLS as the exim user; the key guards nothing
    return cert, key


def _private_spool(workdir: Path) -> Path:
    """A spool for the questions only: exim writes hints (ratelimit counters...) as its own user."""
    spool = workdir / "spool"
    spool.mkdir(parents=True)
    spool.chmod(0o1777)
    return spool


def _command_lines(config: EximConfig) -> list[str]:
    """Where the configuration runs commands or code: exim2smtpd never executes what a config names."""
    return [f"{s.span.file}:{s.span.line}" for s in config.statements() if COMMAND.search(s.source)]


def _command_notes(commands: list[str]) -> list[str]:
    if not commands:
        return []
    where = ", ".join(commands[:5]) + (" ..." if len(commands) > 5 else "")
    return [
        f"${{run}}, ${{perl}}, ${{readsocket}} or ${{dlfunc}} at {where}: never executed. exim was asked with each "
        "failing (a readsocket with its own fail string) and again with each giving 'yes'; a case whose answer "
        "changes is not comparable, unless 'yes' only defers it (greylisting): the retry's answer stands"
    ]


_BY_COMMANDS = "exim's answer depends on ${run}/${perl}/${readsocket}/${dlfunc}, which verify never executes"


def _decided_by_commands(
    failing: dict[Case, Answer], succeeding: dict[Case, Answer], commands: list[str]
) -> dict[Case, Answer]:
    """The answers with commands failing, each one that changes when they succeed marked as theirs.

    Where succeeding commands only defer (a greylisting daemon saying "not
    yet"), the failing answer is the one the sender's retry gets: it stands.
    """
    found = dict(failing)
    for case, answer in failing.items():
        other = succeeding[case]
        if _accepted(answer) == _accepted(other) and answer.route == other.route:
            continue
        if other.code is not None and other.code // 100 == 4 and answer.code is not None and answer.code < 300:
            continue
        why = (
            f"{_BY_COMMANDS} ({', '.join(commands[:3])}): with them failing exim says {answer.code} {answer.text}; "
            f"giving 'yes', {other.code} {other.text}"
        )
        found[case] = Answer(answer.code, why, answer.route, decided_by_commands=True)
    return found


def _accepted(answer: Answer) -> bool:
    return answer.code is not None and answer.code < 300


def _compare_or_not(policy: Policy, case: Case, exim: Answer, smtpd: Answer, helo: tuple[str, ...]) -> Outcome:
    if exim.decided_by_commands:
        return Outcome(case, exim, smtpd, NOT_COMPARABLE, exim.text)
    return compare(policy, case, exim, smtpd, helo)


def _sqlite_database(config: EximConfig, root: Path | None) -> None:
    """exim's sqlite lookups open ``sqlite_dbfile``, and SQLite creates a missing one: never in the admin's copy."""
    option = config.options.get("sqlite_dbfile")
    if root is None or option is None or option.value is None:
        return
    text = option.value.text.strip()
    if not text.startswith("/") or "$" in text:
        return
    if not Path(str(root) + text).is_file():
        raise SideError(
            "exim",
            f"sqlite_dbfile {text} is not under {root} (used at {option.span.file}:{option.span.line}); "
            "exim's sqlite lookups would create an empty database there: copy the server's database into DIR",
        )


def _lookup_files(policy: Policy, root: Path | None) -> dict[str, str]:
    """Files the policy reads (aliases...): they must exist, under ``root`` when given."""
    relocate: dict[str, str] = {}
    for table in policy.tables:
        if root:  # exim reads the lookup files these tables came from
            relocate.update({source: str(Path(str(root) + source)) for source in table.sources})
        if table.generated and root:
            continue
        if not table.file or table.generated:
            continue
        path = Path(str(root) + table.file) if root else Path(table.file)
        if not path.is_file():
            where = ", ".join(f"{s.file}:{s.line}" for s in table.origin)
            raise SideError(
                "exim",
                f"lookup file {path} does not exist (used at {where}); "
                "give --root DIR with a copy of the server's files",
            )
        if root:
            relocate[table.file] = str(path)
    return relocate


def _alias_cases(policy: Policy, relocate: dict[str, str], cases: list[Case]) -> list[Case]:
    """A few keys of the aliases file, from the socket and from anyone."""
    table = next((t for t in policy.tables if t.kind == "aliases"), None)
    domain = next((c.recipient.split("@")[1] for c in cases if c.recipient_class == "local-domains"), None)
    if table is None or domain is None:
        return []
    source = table.sources[0] if table.generated and table.sources else table.file  # exim's file, not the copy
    path = Path(relocate.get(source, source))
    keys = []
    for line in path.read_text(errors="replace").splitlines():
        key = line.split("#", 1)[0].split(":", 1)[0].strip()
        if key and ":" in line and key not in ("postmaster", "root"):
            keys.append(key)
    clients = [(c.client, c.client_class) for c in cases if c.client_class in ("local", "anyone")]
    chosen = list(dict.fromkeys(clients))[:2]
    return [Case(client, f"{key}@{domain}", klass, "alias") for key in keys[:4] for client, klass in chosen]


def _hosted_cases(config: EximConfig, root: Path | None, cases: list[Case]) -> list[Case]:
    """A listed address of a few hosted domains (per-domain alias files under ``root``), from anyone.

    Those domains are in no table when the converter did not carry them over:
    without these cases verify would never ask about them.
    """
    anyone = next((c.client for c in cases if c.client_class == "anyone"), None)
    if root is None or anyone is None:
        return []
    found: list[Case] = []
    for router in config.routers:
        hosted = virtual_files(router)
        directory = Path(str(root) + hosted.directory) if hosted is not None else None
        if directory is None or not directory.is_dir():
            continue
        for domain in sorted(p for p in directory.iterdir() if p.is_file())[:3]:
            keys = [line.split(":", 1)[0].strip() for line in domain.read_text(errors="replace").splitlines()]
            key = next((k for k in keys if k and not k.startswith("#") and "*" not in k), None)
            if key is not None:
                found.append(Case(anyone, f"{key}@{domain.name}", "anyone", "hosted"))
    return found


def _mailbox_cases(policy: Policy, cases: list[Case]) -> list[Case]:
    """A few addresses the hosted domains' virtual table lists (mailboxes and aliases), from the socket and anyone."""
    table = policy.table("hosted_users")
    if table is None:
        return []
    keys = [key for key, _ in table.mapping if not key.startswith("@")][:6]
    clients = [(c.client, c.client_class) for c in cases if c.client_class in ("local", "anyone")]
    chosen = list(dict.fromkeys(clients))[:2]
    return [Case(client, key, klass, "hosted-domains") for key in keys for client, klass in chosen]


def _domains(policy: Policy) -> dict[str, list[str]]:
    local = policy.table("local_domains")
    hosted = policy.table("hosted_domains")
    relay = policy.table("relay_domains")
    return {
        "local": list(local.entries) if local else ["localhost"],
        "hosted": list(hosted.entries) if hosted else [],
        "relay": list(relay.entries) if relay else [],
    }


def compare(policy: Policy, case: Case, exim: Answer, smtpd: Answer, helo_checks: tuple[str, ...] = ()) -> Outcome:
    """The verdict for one case; ``helo_checks``: what the converter reported of exim's HELO ACL."""
    if case.authenticated and smtpd.code is None:
        return Outcome(case, exim, smtpd, NOT_COMPARABLE, f"AUTH: {smtpd.text}")
    database = next((t for t in policy.tables if t.kind == "logins" and t.backend), None)
    if case.authenticated and not case.login and database is not None:
        return Outcome(
            case,
            exim,
            smtpd,
            NOT_COMPARABLE,
            f"verify's probe user cannot be added to exim's database, which smtpd asks with table-{database.backend}: "
            "real logins given with --cases (auth USER PASSWORD) are compared",
        )
    if exim.code is None or exim.code // 100 == 4:
        return Outcome(case, exim, smtpd, NOT_COMPARABLE, f"exim deferred: {exim.text}")
    if smtpd.code is None or smtpd.code // 100 == 4:
        return Outcome(case, exim, smtpd, NOT_COMPARABLE, f"smtpd: {smtpd.text}")
    exim_ok, smtpd_ok = exim.code < 300, smtpd.code < 300
    if smtpd_ok and not exim_ok and exim.text.startswith(exim_side.EHLO_REFUSED) and helo_checks:
        return Outcome(
            case,
            exim,
            smtpd,
            NOT_COMPARABLE,
            f"exim refused the client at EHLO ({exim.text.removeprefix(exim_side.EHLO_REFUSED)}); the converter "
            f"reports its HELO checks as not carried over: {helo_checks[0]}",
        )
    if smtpd_ok and not exim_ok:
        return Outcome(case, exim, smtpd, DIFFERS, "SECURITY REGRESSION: smtpd accepts what exim refused", True)
    lost = _lost_login(policy, case) if exim_ok and not smtpd_ok and smtpd.text.startswith("AUTH") else None
    if lost is not None:
        return Outcome(case, exim, smtpd, NOT_COMPARABLE, f"the converter reports this login lost: {lost}")
    if exim_ok and not smtpd_ok:
        # smtpd matched a local action and found no such user or alias; exim accepted
        # at RCPT but its routers fail the address (it bounces later).
        if smtpd.route in ("local", "virtual", "hosted") and exim.route is None:
            return Outcome(case, exim, smtpd, NOT_COMPARABLE, INHERENT_UNKNOWN_USER)
        if exim.unroutable:
            return Outcome(case, exim, smtpd, NOT_COMPARABLE, INHERENT_UNROUTABLE)
        return Outcome(case, exim, smtpd, DIFFERS, "exim accepts, smtpd refuses: mail would be lost")
    if not exim_ok and case.login and exim.text.startswith("AUTH") and smtpd.text.startswith("AUTH"):
        return Outcome(case, exim, smtpd, SAME, f"both refuse the login of {case.login}")
    if not exim_ok:
        return Outcome(case, exim, smtpd, SAME, "both refuse")
    if exim.route is None:
        return Outcome(case, exim, smtpd, SAME, "both accept (exim's route could not be resolved here)")
    expected_all = [a.name for a in policy.actions if exim.route in a.routers]
    expected = smtpd.route if smtpd.route in expected_all else next(iter(expected_all), None)
    reported = _reported(policy, exim.route)
    if expected is None and reported is not None:
        return Outcome(
            case, exim, smtpd, NOT_COMPARABLE, f"exim routes via {exim.route}, which the converter reports: {reported}"
        )
    if expected == smtpd.route:
        return Outcome(case, exim, smtpd, SAME, f"both accept: exim router {exim.route} = smtpd action {smtpd.route}")
    if expected is not None and _an_alias_target(expected, smtpd.routes):  # exim named one target, smtpd the last
        return Outcome(
            case,
            exim,
            smtpd,
            SAME,
            f"both accept: exim router {exim.route} = smtpd action {expected} (an alias target)",
        )
    return Outcome(
        case, exim, smtpd, DIFFERS, f"exim routes via {exim.route} (smtpd action {expected}), smtpd chose {smtpd.route}"
    )


def _an_alias_target(action: str, routes: tuple[str, ...]) -> bool:
    """smtpd matched ``action`` for one target of an expanded recipient.

    The first match is the recipient's own, whose action also delivers the
    alias's local users (smtpd does not match those again); the others are its
    remote or virtual targets.
    """
    return len(routes) > 1 and action in routes


def _lost_login(policy: Policy, case: Case) -> str | None:
    """The finding that names ``case.login`` among the logins smtpd cannot check, if any."""
    for finding in policy.findings:
        if case.login and finding.rule == rules.AUTH_LOGIN_LOST and f"{case.login} (" in finding.message:
            return f"[{finding.rule.id}] {finding.message}"
    return None


def _explain(
    outcome: Outcome, policy: Policy, exim: str, oracle: Path, defines: dict[str, str], chains: dict[str, list[str]]
) -> Outcome:
    """A routing difference is explained when a router on exim's path is one the converter reported."""
    if outcome.verdict != DIFFERS or outcome.regression or outcome.exim.route is None:
        return outcome
    rcpt = outcome.case.recipient
    if rcpt not in chains:
        chains[rcpt] = exim_side.routing_chain(exim, oracle, defines, rcpt)
    for router in chains[rcpt]:
        reported = _reported(policy, router)
        if reported is not None:
            return Outcome(
                outcome.case,
                outcome.exim,
                outcome.smtpd,
                NOT_COMPARABLE,
                f"exim's route passes router {router}, which the converter reports: {reported}",
            )
    return outcome


def helo_checks(config: EximConfig, policy: Policy) -> tuple[str, ...]:
    """The converter's unmapped findings about statements of the ACL exim runs at HELO."""
    option = config.options.get("acl_smtp_helo")
    name = option.value.text.strip() if option is not None and option.value is not None else ""
    acl = next((a for a in config.acls if a.name == name), None)
    if acl is None:
        return ()
    spans = {s.span for s in acl.statements} | {c.span for s in acl.statements for c in s.conditions}
    return tuple(
        f"[{f.rule.id}] {f.span.file}:{f.span.line}: {f.message}"
        for f in policy.findings
        if f.span in spans and f.severity == "unmapped"
    )


# Findings about a detail of a router an action did take over: they explain no difference in its answers
_ROUTER_DETAILS = frozenset((rules.ROUTER_IGNORE_TARGET_HOSTS.id, rules.ALIASES_EXIM_VALUES.id))


def _reported(policy: Policy, router: str) -> str | None:
    """The converter's finding about a router that no action took over, if any."""
    for finding in policy.findings:
        if finding.rule.id in _ROUTER_DETAILS:
            continue
        if finding.severity in ("unmapped", "approximated") and f"router {router}" in finding.message:
            return f"[{finding.rule.id}] {finding.message}"
        if (
            finding.severity in ("unmapped", "approximated")
            and "except" in finding.message
            and router in finding.message
        ):
            return f"[{finding.rule.id}] {finding.message}"
    return None


__all__ = [
    "DIFFERS",
    "NOT_COMPARABLE",
    "SAME",
    "Outcome",
    "Progress",
    "RootIncomplete",
    "SideError",
    "VerifyResult",
    "verify",
]
