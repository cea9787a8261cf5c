"""Limits on JSON from outside: every parse of a body, a file or a private part goes through here.

Python's JSON decoder and every recursive walk over a value (canonical JSON, the NaN check)
recurse once per level of nesting, so a value nested a few hundred levels deep raises
`RecursionError`, which is not an `AccordError` and was fatal to whatever handled it. Values
are refused here, with a clear error, beyond `MAX_DEPTH` levels of arrays and objects; no
legitimate event needs more than a dozen. Pure: no I/O.
"""

from __future__ import annotations

import json
from typing import Any

from accord.errors import InvalidInput, TooDeep

MAX_DEPTH = 64


def _too_deep(field: str, limit: int) -> TooDeep:
    return TooDeep(f"JSON nested too deeply (more than {limit} levels)", field=field,
                   accepted=f"at most {limit} levels of nested arrays and objects")


def check_depth(obj: Any, field: str = "body", limit: int = MAX_DEPTH) -> None:
    """Raise TooDeep if `obj` has more than `limit` levels of nested lists and dicts.

    Iterative, so it never recurses itself; a cyclic value is refused too (its depth is
    unbounded)."""
    if type(obj) is not dict and type(obj) is not list:
        return
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        children = value.values() if type(value) is dict else value
        for child in children:
            if type(child) is dict or type(child) is list:
                if depth >= limit:
                    raise _too_deep(field, limit)
                stack.append((child, depth + 1))


def parse_json(raw: bytes | str, *, field: str = "body", what: str = "the body",
               accepted: str = "a JSON document", limit: int = MAX_DEPTH) -> Any:
    """`json.loads` for outside input: NaN and infinities refused, nesting bounded, and every
    failure an `InvalidInput` naming `what` was being read."""
    def no_constants(name: str) -> None:
        raise InvalidInput(f"{name} is not JSON", field=field, accepted="finite numbers")

    try:
        obj = json.loads(raw, parse_constant=no_constants)
    except RecursionError:
        raise _too_deep(field, limit) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{what} is not JSON: {exc}", field=field,
                           accepted=accepted) from None
    # A value has at most as many levels as it has brackets: most bodies need no walk.
    brackets = (raw.count(b"[") + raw.count(b"{") if isinstance(raw, bytes)
                else raw.count("[") + raw.count("{"))
    if brackets > limit:
        check_depth(obj, field, limit)
    return obj
