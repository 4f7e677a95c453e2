"""A small validation library for config documents (pure, no I/O).

:class:`Problems` collects every (key, problem) pair found in one document;
:class:`Record` reads one table of it with typed, range-checked getters that
record a problem and return a placeholder instead of raising, so one pass
reports every problem; :class:`Schema` names the keys a table may have;
:class:`Index` reports duplicate ids with both places.  :class:`ConfigError`
is what a document with problems raises.  The festival loader
(:mod:`livehub.domain.festival`) is built on it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from typing import Any

from livehub.domain.ids import ID_CHARS, valid_id
from livehub.errors import LivehubException

MAX_TEXT_CHARS = 200
MAX_KEY_CHARS = 256
ARGON2_HASH = re.compile(r"\$argon2(?:id|i|d)\$v=\d+\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]{8,}\$[A-Za-z0-9+/]{16,}")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
MAX_SHOWN_PROBLEMS = 20
GENERATED = "[demo]"


class ConfigError(LivehubException, ValueError):
    """A config document cannot be used.

    ``problems`` holds every (key, problem) pair found; the message shows the
    source and the first :data:`MAX_SHOWN_PROBLEMS` of them.
    """

    def __init__(self, source: str, problems: Sequence[tuple[str, str]]) -> None:
        self.source = source
        self.problems: tuple[tuple[str, str], ...] = tuple(problems)
        lines = [f"{key}: {problem}" if key else problem for key, problem in self.problems]
        if len(lines) == 1:
            message = f"{source}: {lines[0]}"
        else:
            shown = lines[:MAX_SHOWN_PROBLEMS]
            if len(lines) > len(shown):
                shown.append(f"... and {len(lines) - len(shown)} more")
            message = f"{source}: {len(lines)} problems:\n  " + "\n  ".join(shown)
        super().__init__(message)

    def __reduce__(self) -> tuple[type[ConfigError], tuple[str, tuple[tuple[str, str], ...]]]:
        return (type(self), (self.source, self.problems))  # picklable across worker processes


class Problems:
    """Collects (key, problem) pairs for one file."""

    def __init__(self, source: str, error: type[ConfigError] = ConfigError) -> None:
        self.source = source
        self.error = error
        self.items: list[tuple[str, str]] = []

    def add(self, key: str, problem: str) -> None:
        self.items.append((key, problem))

    def raise_if_any(self) -> None:
        if self.items:
            raise self.error(self.source, self.items)


def type_name(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "table"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


@dataclasses.dataclass(frozen=True, slots=True)
class Schema:
    """The keys one kind of table may have."""

    required: frozenset[str]
    allowed: frozenset[str]

    @classmethod
    def of(cls, required: Iterable[str], optional: Iterable[str] = ()) -> Schema:
        req = frozenset(required)
        return cls(req, req | frozenset(optional))


class Record:
    """Typed access to one table of the config; problems go to ``problems`` under ``where.key``.

    A getter that finds a problem records it and returns a placeholder; the
    placeholder never reaches a Festival because the loader stops after the
    record pass if anything was recorded.  Each getter tries the common, valid
    case first: the demo festival has ~20,000 records to check.
    """

    __slots__ = ("ok", "problems", "raw", "where")

    def __init__(self, problems: Problems, where: str, raw: object, schema: Schema) -> None:
        self.problems = problems
        self.where = where
        self.ok = True
        if not isinstance(raw, dict):
            self.raw: dict[str, Any] = {}
            self.fail("", f"must be a table, got {type_name(raw)}")
            return
        self.raw = raw
        keys = raw.keys()
        if not keys <= schema.allowed:
            for key in raw:
                if key not in schema.allowed:
                    self.fail(key, f"unknown key (allowed: {', '.join(sorted(schema.allowed))})")
        if not schema.required <= keys:
            for key in sorted(schema.required - keys):
                self.fail(key, "missing required key")

    def key(self, key: str) -> str:
        return f"{self.where}.{key}" if key else self.where

    def fail(self, key: str, problem: str) -> None:
        self.ok = False
        self.problems.add(self.key(key), problem)

    def _typed(self, key: str, kinds: tuple[type, ...], wanted: str) -> Any:
        value = self.raw.get(key)
        if value is None:  # missing: reported by __init__
            return None
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            self.fail(key, f"must be {wanted}, got {type_name(value)} {value!r}")
            return None
        return value

    def ident(self, key: str) -> str:
        value = self.raw.get(key)
        if type(value) is str and valid_id(value):
            return value
        value = self._typed(key, (str,), "a string")
        if value is None:
            return ""
        self.fail(key, f"must be {ID_CHARS}, got {value!r}")
        return str(value)

    def text(self, key: str, default: str | None = None, max_chars: int = MAX_TEXT_CHARS) -> str:
        if default is not None and key not in self.raw:
            return default
        value = self._typed(key, (str,), "a string")
        if value is None:
            return ""
        if not value.strip() or len(value) > max_chars or not value.isprintable():
            self.fail(key, f"must be 1-{max_chars} printable characters, got {value[:80]!r}")
        return str(value)

    def secret(self, key: str) -> str:
        """A host key: checked like text, but never echoed in a message."""
        value = self.raw.get(key)
        if value is None:
            return ""
        if not isinstance(value, str):
            self.fail(key, f"must be a string, got {type_name(value)}")
            return ""
        if not 0 < len(value) <= MAX_KEY_CHARS or not value.isprintable() or any(c.isspace() for c in value):
            self.fail(key, f"must be 1-{MAX_KEY_CHARS} printable characters without spaces (value not shown)")
        return value

    def key_hashes(self, key: str) -> tuple[str, ...]:
        """Host key hashes: one argon2 PHC string or a list of them (rotation); never echoed in a message."""
        value = self.raw.get(key)
        if value is None:
            return ()
        items = value if isinstance(value, list) else [value]
        out: list[str] = []
        for i, item in enumerate(items):
            where = key if not isinstance(value, list) else f"{key}[{i}]"
            if not isinstance(item, str) or not ARGON2_HASH.fullmatch(item):
                self.fail(where, "must be an argon2 hash ('$argon2id$v=19$m=...', from `livehub hash-key`; "
                                 "value not shown)")  # fmt: skip
            else:
                out.append(item)
        return tuple(out)

    def env_name(self, key: str) -> str:
        """The name of an environment variable (``LIVEHUB_HOST_KEY_MAIN``)."""
        value = self.raw.get(key)
        if value is None:
            return ""
        if not isinstance(value, str) or not ENV_NAME.fullmatch(value):
            self.fail(key, f"must be an environment variable name (A-Z, 0-9, _), got {value!r}")
            return ""
        return value

    def number(self, key: str, low: float, high: float, low_open: bool = False,
               default: float | None = None) -> float:  # fmt: skip
        value = self.raw.get(key)
        if type(value) is float and (low < value if low_open else low <= value) and value <= high:
            return value
        if value is None and default is not None:
            return default
        value = self._typed(key, (int, float), "a number")
        if value is None:
            return 0.0
        value = float(value)
        in_range = (low < value if low_open else low <= value) and value <= high
        if not in_range:  # also catches nan and inf
            self.fail(key, f"must be {'>' if low_open else '>='} {low:g} and <= {high:g}, got {value!r}")
        return value

    def integer(self, key: str, low: int) -> int:
        value = self._typed(key, (int,), "an integer")
        if value is None:
            return 0
        if value < low:
            self.fail(key, f"must be >= {low}, got {value}")
        return int(value)


class Index:
    """Where each id was first seen, to report duplicates with both places.

    Ids generated by ``[demo]`` are known up front; explicit records are
    claimed one by one as they are read.
    """

    def __init__(self, problems: Problems, what: str, generated: Iterable[str] = ()) -> None:
        self.problems = problems
        self.what = what
        self.seen: dict[str, str] = dict.fromkeys(generated, GENERATED)

    def claim(self, value: str, key: str) -> None:
        first = self.seen.setdefault(value, key)
        if first == GENERATED:
            self.problems.add(key, f"{self.what} {value!r} is also generated by [demo]; pick another")
        elif first != key:
            self.problems.add(key, f"duplicate {self.what} {value!r} (first at {first})")
