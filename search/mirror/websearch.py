"""The web-search syntax of `q`, parsed as Postgres' websearch_to_tsquery reads it.

Words and "quoted phrases" are ANDed; a leading `-` negates one (`--` cancels out); a bare
`or` between two operands is OR, which binds looser than AND (`a b or c` is `(a b) | c`);
`or` first, last, negated or right after another `or` is an ordinary word. Operands with
no letter or digit carry no lexeme and are dropped, as Postgres drops them.
"""

import re
from dataclasses import dataclass

_LEXEME = re.compile(r"[^\W_]")  # a letter or a digit


@dataclass(frozen=True)
class Operand:
    text: str
    negated: bool = False
    phrase: bool = False


def _tokens(q: str) -> list[Operand]:
    """Operands in order, each with its negation (bare `or` words stay operands here)."""
    out: list[Operand] = []
    negated, i = False, 0
    while i < len(q):
        char = q[i]
        if char.isspace():
            i += 1
        elif char == "-":
            negated = not negated
            i += 1
        elif char == '"':
            end = q.find('"', i + 1)
            end = len(q) if end < 0 else end
            out.append(Operand(q[i + 1 : end], negated, phrase=True))
            negated, i = False, end + 1
        else:
            end = i
            while end < len(q) and not q[end].isspace() and q[end] != '"':
                end += 1
            out.append(Operand(q[i:end], negated))
            negated, i = False, end
    return out


def websearch_parse(q: str) -> list[list[Operand]]:
    """`q` as OR-groups of ANDed operands; [] when nothing in it can match a word."""
    tokens = _tokens(q)
    groups: list[list[Operand]] = [[]]
    after_or = False
    for index, token in enumerate(tokens):
        is_or = token.text.lower() == "or" and not token.phrase and not token.negated
        if is_or and groups[-1] and not after_or and index + 1 < len(tokens):
            groups.append([])
            after_or = True
            continue
        after_or = False
        if _LEXEME.search(token.text):
            groups[-1].append(token)
    return [group for group in groups if group]
