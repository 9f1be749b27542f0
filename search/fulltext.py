"""`q` in memory: PostgreSQL's `search_vector @@ websearch_to_tsquery('simple', q)`, for the live tail.

The stored vector (ingest migration 0001) is `to_tsvector('simple', message) ||
jsonb_to_tsvector('simple', metadata, '["string", "numeric"]')`. Modelled here as PostgreSQL
builds it: words are runs of letters and digits, lower-cased, one position each; metadata
values follow in jsonb order (keys by byte length, then bytes; depth first), each value after
a one-position gap (no phrase spans two values), a number being one lexeme (its numeric
text); the metadata's positions start right after the message's last word. The query follows
websearch_to_tsquery's grammar exactly: words and "quoted phrases" are ANDed, `-` negates,
`or` between operands is OR (binding looser than AND), a multi-word operand is a phrase.

Not modelled: the compound tokens of PostgreSQL's parser (e-mail addresses, host names, URLs,
file paths, hyphenated words, signed or decimal numbers and versions in text, XML tags), which
it indexes as whole lexemes, and a few Unicode case mappings (Python's lower() is not the
database's): for text containing those, the tail can differ from search (e.g. q=alice matches
"alice@example.com" here, not in PostgreSQL). search/tests/test_stream_matching.py compares both
on everything else.
"""

import hashlib
import re
from collections import OrderedDict
from decimal import Decimal
from functools import lru_cache

import orjson

_WORD_RE = re.compile(r"[^\W_]+")
_SPACE = " \t\n\r\f\v"
_OPERATOR_CHARS = "!&|()<"  # skipped between operands; they end a word
_WORD_END = _SPACE + _OPERATOR_CHARS + '":'
# Scanned operators (operands are lists of words) and the tags of query tree nodes.
_NOT, _AND, _OR, _PHRASE = "not", "and", "or", "phrase"

Positions = dict[str, frozenset[int]]


def _words(text: str) -> list[str]:
    return [word.lower() for word in _WORD_RE.findall(text)]


def _number_text(number: int | float) -> str:
    """The text PostgreSQL's numeric gives a JSON number (stored as orjson wrote it)."""
    if isinstance(number, int):
        return str(number)
    text = format(Decimal(orjson.dumps(number).decode()), "f")
    return text[1:] if text.startswith("-") and Decimal(text) == 0 else text


def _values(value):
    """String and number values of a JSON value, in jsonb's order."""
    if isinstance(value, dict):
        for key in sorted(value, key=lambda k: (len(k.encode()), k.encode())):
            yield from _values(value[key])
    elif isinstance(value, list):
        for item in value:
            yield from _values(item)
    elif isinstance(value, str) or (isinstance(value, int | float) and not isinstance(value, bool)):
        yield value


def document_positions(message: str | None, metadata) -> Positions:
    """Lexeme -> positions, as in the event's search_vector."""
    found: dict[str, set[int]] = {}
    position = 0
    for word in _words(message or ""):
        position += 1
        found.setdefault(word, set()).add(position)
    offset, position = position, 0
    for value in _values(metadata):
        lexemes = _words(value) if isinstance(value, str) else [_number_text(value)]
        if not lexemes:
            continue
        if position:
            position += 1  # the gap jsonb_to_tsvector leaves between values
        for lexeme in lexemes:
            position += 1
            found.setdefault(lexeme, set()).add(offset + position)
    return {lexeme: frozenset(at) for lexeme, at in found.items()}


_CACHE: OrderedDict[bytes, Positions] = OrderedDict()
_CACHE_SIZE = 4096


def _cached_positions(message: str | None, metadata) -> Positions:
    """document_positions, computed once per content (every connection of a process sees the same events)."""
    try:
        content = orjson.dumps(metadata)
    except orjson.JSONEncodeError:  # an int beyond 64 bits, as jsonb gives back a large float
        content = repr(metadata).encode()
    key = hashlib.blake2b((message or "").encode() + b"\0" + content, digest_size=16).digest()
    positions = _CACHE.get(key)
    if positions is None:
        positions = _CACHE[key] = document_positions(message, metadata)
        if len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return positions


def _is_or_operator(q: str, i: int) -> bool:
    """`or` at i is the operator: not part of a word, and something follows it."""
    if q[i : i + 2].lower() != "or" or i + 2 >= len(q):
        return False
    after = q[i + 2]
    if after in "-_" or after.isalnum():
        return False
    rest = q[i + 3 :]
    return bool(rest.strip(_SPACE))


def _tokens(q: str) -> list:
    """websearch_to_tsquery's scanner: operands (lists of words; [] carries no lexeme) and operators."""
    out: list = []
    i, n, expect_operand, started = 0, len(q), True, False
    while True:
        if expect_operand:
            if i >= n:
                if started:
                    out.append([])  # an operator without an operand: dropped with it below
                return out
            char = q[i]
            if char in _SPACE:
                i += 1
                continue
            started = True
            if char == "-":
                out.append(_NOT)
                i += 1
            elif char == '"':
                end = q.find('"', i + 1)
                end = n if end < 0 else end
                out.append(_words(q[i + 1 : end]))
                expect_operand, i = False, end + 1
            elif char in _OPERATOR_CHARS:
                i += 1
            else:
                end = i + 1
                while end < n and q[end] not in _WORD_END:
                    end += 1
                out.append(_words(q[i:end]))
                expect_operand, i = False, end
        elif i >= n:
            return out
        elif _is_or_operator(q, i):
            out.append(_OR)
            expect_operand, i = True, i + 2
        elif q[i] in _SPACE or q[i] in _OPERATOR_CHARS:
            i += 1
        else:
            out.append(_AND)
            expect_operand = True


def _build(tokens: list):
    """Operator precedence (NOT > AND > OR); operands without lexemes are dropped with their operator."""
    stream = iter(tokens)
    current = [next(stream, None)]

    def advance():
        current[0] = next(stream, None)

    def unary():
        token = current[0]
        advance()
        if token == _NOT:
            inner = unary()
            return None if inner is None else (_NOT, inner)
        return (_PHRASE, tuple(token)) if token else None

    def binary(operator, operand):
        def parse():
            left = operand()
            while current[0] == operator:
                advance()
                right = operand()
                left = right if left is None else left if right is None else (operator, left, right)
            return left

        return parse

    return binary(_OR, binary(_AND, unary))() if tokens else None


@lru_cache(maxsize=256)
def parse_query(q: str):
    """The query tree: ("phrase", words), ("not", node), ("and"|"or", node, node); None matches nothing."""
    return _build(_tokens(q))


def _holds(node, positions: Positions) -> bool:
    kind = node[0]
    if kind == _NOT:
        return not _holds(node[1], positions)
    if kind == _AND:
        return _holds(node[1], positions) and _holds(node[2], positions)
    if kind == _OR:
        return _holds(node[1], positions) or _holds(node[2], positions)
    first, *rest = node[1]
    following = [positions.get(word, frozenset()) for word in rest]
    return any(all(start + k in at for k, at in enumerate(following, 1)) for start in positions.get(first, ()))


def text_matches(q: str, message: str | None, metadata) -> bool:
    node = parse_query(q)
    return node is not None and _holds(node, _cached_positions(message, metadata))
