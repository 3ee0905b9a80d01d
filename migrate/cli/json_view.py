"""JSON for people and for jq: nested objects indented, flat ones on one line.

``json.dump(indent=2)`` runs Python's pure-Python encoder and puts every field
of every list item on a line of its own: a 200,000-domain list became 62 MB
and most of ``parse --json``'s time. An object or array holding only plain
values is written by the C encoder on one line instead; the data is the same.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO


def _c_encoder() -> Callable[[object], str]:
    """json's C encoder made once: json.dumps builds a new one per call, most of the time for small values."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # an interpreter without the C accelerator
        return json.JSONEncoder().encode
    chunks = make(None, None, json.encoder.encode_basestring_ascii, None, ": ", ", ", False, False, True)
    return lambda value: "".join(chunks(value, 0))


_encode = _c_encoder()


Expander = Callable[[object], tuple[object, bool]]
_NESTED = (dict, list, tuple)
ONE_LINE = 2  # an expander's "ready, and plain values only": written as it is, unexamined


def _plain(value: object) -> tuple[object, bool]:
    """Data already JSON-ready: containers are walked, everything else is written as it is."""
    return value, not isinstance(value, (dict, list, tuple))


def write_json(data: object, stream: TextIO, expand: Expander = _plain) -> None:
    """``data`` as indented JSON, one flat object or array per line, ending with a newline.

    ``expand`` turns a node into JSON one level at a time (``(value, True)``
    when ready, ``(value, ONE_LINE)`` when ready and holding plain values only,
    ``(container, False)`` when its items need expanding), so a big tree is
    written as it is walked and never copied whole.
    """
    writer = _Writer(stream, expand)
    writer.value(data, "")
    writer.parts.append("\n")
    writer.flush()


@dataclass
class _Writer:
    stream: TextIO
    expand: Expander
    parts: list[str] = field(default_factory=list)

    def flush(self) -> None:
        self.stream.write("".join(self.parts))
        self.parts.clear()

    def value(self, node: object, indent: str) -> None:
        value, done = self.expand(node)
        self._write(value, done, indent, self.expand)

    def _write(self, value: object, done: bool, indent: str, expand: Expander) -> None:
        if done is ONE_LINE:
            self.parts.append(_encode(value))
        elif not done:
            self._container(value, indent, expand)
        elif isinstance(value, _NESTED):
            for item in value.values() if isinstance(value, dict) else value:
                if isinstance(item, _NESTED):
                    self._container(value, indent, _plain)
                    break
            else:  # the commonest node, a list item or a span: one line
                self.parts.append(_encode(value))
        else:
            self.parts.append(_encode(value))
        if len(self.parts) > 4096:
            self.flush()

    def _container(self, value: object, indent: str, expand: Expander) -> None:
        """Plain values only: one line. Otherwise one item per line, each expanded as it is written."""
        keyed = isinstance(value, dict)
        items = iter(value.items() if keyed else value)  # type: ignore[attr-defined, arg-type]
        plain: list[tuple[object, object]] = []
        first_nested = None
        for item in items:
            key, node = item if keyed else (None, item)
            expanded, done = expand(node)
            if not done or isinstance(expanded, (dict, list, tuple)):
                first_nested = (key, expanded, done)
                break
            plain.append((key, expanded))
        if first_nested is None:
            self.parts.append(_encode(dict(plain) if keyed else [v for _, v in plain]))
            return
        inner = indent + "  "
        self.parts.append("{" if keyed else "[")
        separator = "\n" + inner
        for key, expanded in plain:
            self.parts.append(separator + (_encode(key) + ": " if keyed else "") + _encode(expanded))
            separator = ",\n" + inner
        key, expanded, done = first_nested
        self.parts.append(separator + (_encode(key) + ": " if keyed else ""))
        self._write(expanded, done, inner, expand)
        for item in items:
            key, node = item if keyed else (None, item)
            self.parts.append(",\n" + inner + (_encode(key) + ": " if keyed else ""))
            expanded, done = expand(node)
            self._write(expanded, done, inner, expand)
        self.parts.append("\n" + indent + ("}" if keyed else "]"))
