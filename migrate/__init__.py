"""exim2smtpd: migrate an exim 4 configuration to OpenSMTPD.

The package is a pipeline of stages, one module each: ``reader`` (exim text to a
source-located parse tree), then the policy model, rendering and the report.
Nothing here prints; the ``cli`` module is the only place that talks to a
terminal.
"""

import sys
import types

__version__ = "0.1.0"

_MOST_KEPT = 5000  # compiled methods; more, and only those this run used are kept (old versions' go)


def _keep_dataclass_code() -> None:
    """Compile the methods ``@dataclass`` writes for this package's classes once, not on every start.

    ``dataclasses`` writes each class's ``__init__``, ``__repr__``, ``__eq__``...
    as source text and compiles it with ``exec`` (in ``_create_fn``): some 550
    small functions, half the time of importing the package and a fifth of a
    CLI run. The code compiled from each text is kept in the user's cache
    directory (beside the compiled templates, see ``render.base``) and run in
    place of compiling the same text again: the same text compiled the same
    way is the same code, so the classes are what they were. A text not seen
    before is compiled as ``exec`` compiles it, and the cache is written at
    exit. Only CPython 3.11 and 3.12, where ``_create_fn`` is the one use of
    ``exec`` in ``dataclasses``; elsewhere nothing changes. Other packages'
    classes are left to ``exec``.
    """
    if sys.implementation.name != "cpython" or sys.version_info[:2] not in ((3, 11), (3, 12)):
        return
    import dataclasses
    import os

    create_fn = getattr(dataclasses, "_create_fn", None)
    if "exec" in vars(dataclasses) or create_fn is None or "exec" not in create_fn.__code__.co_names:
        return
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    version = "-".join(str(part) for part in sys.version_info)
    name = f"dataclasses-{sys.implementation.cache_tag}-{version}-O{sys.flags.optimize}"
    path = os.path.join(base, "exim2smtpd", name)
    codes = _read_codes(path)
    used: set[str] = set()
    added: list[str] = []

    def compiled_exec(
        source: str | bytes | types.CodeType, globals: dict[str, object], locals: dict[str, object] | None = None, /
    ) -> None:
        module = globals.get("__name__")
        if not isinstance(source, str) or not isinstance(module, str) or module.partition(".")[0] != "migrate":
            exec(source, globals, locals)
            return
        code = codes.get(source)
        if code is None:  # as exec compiles a string here: dataclasses has no future imports to inherit
            code = codes[source] = compile(source, "<string>", "exec", dont_inherit=True)
            added.append(source)
        used.add(source)
        exec(code, globals, locals)

    def write() -> None:
        if added:
            _write_codes(path, codes if len(codes) <= _MOST_KEPT else {text: codes[text] for text in used})

    vars(dataclasses)["exec"] = compiled_exec  # found before the builtin by _create_fn
    import atexit

    atexit.register(write)


def _read_codes(path: str) -> dict[str, types.CodeType]:
    """The kept code by source text; none when the file is missing, not this user's, or damaged."""
    import marshal
    import os

    try:
        with open(path, "rb") as handle:
            if os.fstat(handle.fileno()).st_uid != os.getuid():  # run only code this user compiled
                return {}
            codes = marshal.loads(handle.read())  # load() of a file reads it a few bytes at a time
    except (OSError, EOFError, ValueError, TypeError):
        return {}
    if not isinstance(codes, dict):
        return {}
    return {text: code for text, code in codes.items() if isinstance(text, str) and isinstance(code, types.CodeType)}


def _write_codes(path: str, codes: dict[str, types.CodeType]) -> None:
    """Write the cache in one rename; where the directory cannot be written, nothing is."""
    import contextlib
    import marshal
    import os

    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as handle:
            marshal.dump(codes, handle)
        os.replace(temporary, path)
    except (OSError, ValueError):
        with contextlib.suppress(OSError):
            os.unlink(temporary)


_keep_dataclass_code()
