"""How metadata is made searchable in the mirror, both sides: the document's derived fields and the filter's terms.

`metadata.<path>=<value>` in Postgres is a jsonb containment test: it matches the string
<value>, or the number or boolean that <value> spells, at exactly that path (never inside
an array). The mirror indexes one typed keyword per scalar leaf that a filter can address
("s:plan.tier=gold", "n:count=3", "b:flag=true"), numbers in one canonical spelling, and
the filter asks for the same spellings.
"""

import math
from collections.abc import Sequence

from ..filters import METADATA_KEY_RE, metadata_values


def _number(value: int | float) -> str | None:
    """One spelling per numeric value (3, 3.0 and 3e0 are one number to jsonb)."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        if value.is_integer() and abs(value) < 2**53:
            return str(int(value))
        return repr(value)
    return str(value)


def _term(kind: str, path: Sequence[str], value: str) -> str:
    return f"{kind}:{'.'.join(path)}={value}"


def _leaf_term(path: Sequence[str], value) -> str | None:
    if isinstance(value, bool):
        return _term("b", path, "true" if value else "false")
    if isinstance(value, int | float):
        number = _number(value)
        return _term("n", path, number) if number is not None else None
    if isinstance(value, str):
        return _term("s", path, value)
    return None


def metadata_terms(metadata: dict, path: tuple[str, ...] = ()) -> list[str]:
    """The typed terms of every scalar leaf reached through object keys a filter can name."""
    out: list[str] = []
    for key, value in metadata.items():
        leaf_path = (*path, key)
        # A key with a dot in it ("plan.tier") is no path a filter can name.
        if "." in key or not METADATA_KEY_RE.match(".".join(leaf_path)):
            continue
        if isinstance(value, dict):
            out.extend(metadata_terms(value, leaf_path))
        else:
            term = _leaf_term(leaf_path, value)
            if term is not None:
                out.append(term)
    return out


def metadata_text(value) -> list[str]:
    """String and number values anywhere in metadata (as jsonb_to_tsvector with '["string", "numeric"]')."""
    if isinstance(value, dict):
        return [text for v in value.values() for text in metadata_text(v)]
    if isinstance(value, list):
        return [text for v in value for text in metadata_text(v)]
    if isinstance(value, str):
        return [value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return [str(value)]
    return []


def metadata_filter_terms(path: list[str], value: str) -> list[str]:
    """The terms `metadata.<path>=<value>` matches: the string, or the number/boolean it spells."""
    return [term for v in metadata_values(value) if (term := _leaf_term(path, v)) is not None]
