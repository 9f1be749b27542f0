"""Masking at ingest: secrets and personal data are replaced before an event is stored, mirrored or streamed.

mask_row(row, policy) masks a validated row in place, by the built-in detectors and the tenant's rules
(tenants.policies.Masking), and records the dotted paths it masked in row["masked_fields"].

What the built-ins look at: `message`, `context.user_agent`, and every value (and key name) under
`metadata`, `changes.before` and `changes.after`. Ids, actions, types, sources, tags and the actor id
are never masked: they must stay searchable. Actor name and email, and resource name, are masked only
by a tenant path rule.

The format is stable (clients and the README rely on it): a masked value or part of a text becomes
`[MASKED:<kind>]`, kind being one of
  secret       the value of a secret-like key (`password`, `X-Api-Key`, `db_password`, ...), whatever
               its type, nested objects included; in text, the value of `password=...`, `token: ...`
  card         `[MASKED:card ****4242]`: a Luhn-valid card number, its last four digits kept
  email, phone, jwt
  token        the credentials of `Bearer <token>` and `Basic <base64>` (the scheme word is kept)
  access_key   AWS, GCP, GitHub, Slack and Stripe access keys
  private_key  a PEM private key block
  rule         what a tenant rule (key name, path or pattern) masked
null and "" are left as they are (there is nothing to hide). Masking is idempotent: a masked row masks
to itself, and text already masked is not masked again.

Cost: one event without hits costs tens of microseconds (see the README); every detector is
precompiled and guarded by a cheap test (a character or a literal that its matches must contain).
"""

import base64
import binascii
import re
from functools import lru_cache

import re2

MASK_TOKEN = re.compile(r"\[MASKED(?::[^\]\[]{0,40})?\]")
MASKED_SECRET = "[MASKED:secret]"
MASKED_RULE = "[MASKED:rule]"

# Key names ---------------------------------------------------------------------------------------
# A key is split into lower-cased words at separators and camelCase humps (`X-Api-Key` -> x api key,
# `dbPassword` -> db password). It is secret-like when its last word names a secret, when its last
# two words do (api key), or when a representation of a secret ends it (password_hash, token_value).
# Words that only describe a secret (password_changed, token_type, max_tokens) are not secrets.
_SECRET_WORDS = frozenset(
    "password passwords passwd pwd passphrase passcode secret secrets token cookie cookies authorization "
    "credential credentials cvv cvc cvv2 apikey privatekey accesskey secretkey".split()
)
_SECRET_PAIRS = frozenset(
    "apikey accesskey privatekey secretkey signingkey encryptionkey masterkey authkey clientkey".split()
)
_SECRET_ENDINGS = ("password", "passwd", "secret", "token", "apikey", "accesskey", "privatekey", "secretkey")
_REPRESENTATIONS = frozenset("hash hashed digest value raw plain plaintext encrypted enc b64 base64 hex".split())
_KEY_WORDS = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")


@lru_cache(maxsize=8192)
def secret_key(key: str) -> bool:
    """True when a key name says its value is a secret (memoised: key names repeat across events)."""
    words = [w.lower() for w in _KEY_WORDS.split(key) if w]
    if not words:
        return False
    last = words[-1]
    if last in _SECRET_WORDS or last.endswith(_SECRET_ENDINGS):
        return True
    if len(words) > 1:
        if words[-2] + last in _SECRET_PAIRS:
            return True
        if last in _REPRESENTATIONS and (words[-2] in _SECRET_WORDS or words[-2].endswith(_SECRET_ENDINGS)):
            return True
    return False


# Text detectors ----------------------------------------------------------------------------------
# Each is (guard, pattern, replacement); the guard is a cheap test the text must pass for the pattern
# to run at all. Bounded quantifiers and anchoring literals keep every pattern linear in practice.
_PEM = re.compile(
    r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY[A-Z ]{0,10}-----.*?"
    r"(?:-----END[A-Z0-9 ]{0,40}PRIVATE KEY[A-Z ]{0,10}-----|\Z)",
    re.DOTALL,
)
_JWT = re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]+){0,3}")
_ACCESS_KEY = re.compile(
    r"(?<![A-Za-z0-9])(?:"
    r"(?:AKIA|ASIA)[A-Z0-9]{16}"  # AWS access key ids
    r"|AIza[0-9A-Za-z_-]{35}"  # Google Cloud API keys
    r"|gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{22,255}"  # GitHub
    r"|xox[abposr]-[A-Za-z0-9-]{10,255}"  # Slack
    r"|[sr]k_(?:live|test)_[A-Za-z0-9]{16,255}"  # Stripe
    r")(?![A-Za-z0-9])"
)
_URL_PASSWORD = re.compile(r"(://[^\s/:@\[\]]{0,64}:)(?!\[MASKED)[^\s/@]{1,128}(?=@)")
# Searched in the lower-cased text (a case-sensitive scan is many times faster than re.IGNORECASE).
_KV_SECRET = re.compile(
    r"((?:password|passwd|passphrase|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|secret[_-]?key"
    r"|authorization|cookie|credentials?)[\"']?[ \t]{0,8}[:=][ \t]{0,8})"
    r"(?!\[masked|\"\[masked|'\[masked)"
    r"(\"[^\"\n]{0,512}\"|'[^'\n]{0,512}'|(?:bearer|basic|token|digest)[ \t]+[^\s,;&\"'<>]{1,512}"
    r"|[^\s,;&\"'<>\[\]]{1,512})"
)
_KV_SECRET_ANY_CASE = re.compile(_KV_SECRET.pattern, re.IGNORECASE)
_SCHEME_CREDENTIALS = re.compile(r"\b(bearer|basic)([ \t]+)([A-Za-z0-9._~+/-]{8,4096}=*)", re.IGNORECASE)
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,8}"
    r"[A-Za-z]{2,24}(?![A-Za-z0-9-])"
)
# Each alternative starts with the character it needs, then looks behind: a scan skips other characters fast.
_CARD = re.compile(r"[2-6](?<![\w.-][2-6])(?:[ -]?\d){12,18}(?![\w-]|\.\d)")
_CARD_NUMBER_MIN = 10**12  # a card number sent as a JSON number has 13 digits or more
_PHONE = re.compile(
    # international: +, a country code, then digits in groups
    r"(?:\+(?<![\w+]\+)\d[\d ().-]{6,20}\d"
    # North American: (555) 123-4567, 555-123-4567, 555.123.4567 (one separator throughout)
    r"|\((?<![\w.+/:-]\()\d{3}\) ?\d{3}[.-]\d{4}"
    r"|\d(?<![\w.+/:-]\d)\d{2}(?P<sep>[.-])\d{3}(?P=sep)\d{4}"
    # trunk-prefixed national numbers in space-separated groups: 020 7946 0958, 01 23 45 67 89
    r"|0(?<![\w.+/:-]0)\d{1,4}(?: \d{2,4}){1,4}"
    r")(?![\w-]|[.:]\d)"
)
# A card or a phone number has at least 8 digits in a run of digits and separators: texts without one
# (most texts with digits: ids, versions, times) skip both detectors.
_NUMBER_RUN = re.compile(r"\d[\d ().-]{6,60}")
_DIGITS = "0123456789"


def _numbers(text: str) -> bool:
    return any(sum(map(run.count, _DIGITS)) >= 8 for run in _NUMBER_RUN.findall(text))


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(m: re.Match) -> str:
    digits = m.group(0).replace(" ", "").replace("-", "")
    if not 13 <= len(digits) <= 19 or not _luhn(digits):
        return m.group(0)
    return f"[MASKED:card ****{digits[-4:]}]"


def _phone(m: re.Match) -> str:
    text = m.group(0)
    digits = sum(ch.isdigit() for ch in text)
    if text[0] == "+":
        if not 8 <= digits <= 15 or "  " in text or ".." in text:
            return text
    elif text[0] == "0" and " " in text and not 10 <= digits <= 12:
        return text
    return "[MASKED:phone]"


def _scheme_credentials(m: re.Match) -> str:
    scheme, gap, value = m.group(1), m.group(2), m.group(3)
    if scheme.lower() == "bearer":
        if not any(ch.isdigit() for ch in value) or len(value) < 12:
            return m.group(0)
    else:  # Basic: base64 of user:password
        try:
            decoded = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return m.group(0)
        if b":" not in decoded:
            return m.group(0)
    return f"{scheme}{gap}[MASKED:token]"


def _kv_secrets(text: str) -> str:
    """Values of `password=...`, `"token": "..."`, `Authorization: Bearer ...` in a text, in any letter case."""
    lowered = text.lower()
    if len(lowered) != len(text):  # a few non-ASCII letters lengthen when lower-cased: no shared offsets
        return text if _KV_SECRET.search(lowered) is None else _KV_SECRET_ANY_CASE.sub(_kv_secret, text)
    pieces, last = [], 0
    for m in _KV_SECRET.finditer(lowered):
        start, end = m.span(2)
        quote = text[start] if text[start] in "\"'" else ""
        pieces += (text[last:start], quote, MASKED_SECRET, quote)
        last = end
    if not pieces:
        return text
    pieces.append(text[last:])
    return "".join(pieces)


def _kv_secret(m: re.Match) -> str:
    value = m.group(2)
    quote = value[0] if value[0] in "\"'" else ""
    return f"{m.group(1)}{quote}{MASKED_SECRET}{quote}"


def _builtins(text: str) -> str:
    """Every built-in detector over a text, most specific first (a JWT is not left to the bearer rule)."""
    if "-----BEGIN" in text:
        text = _PEM.sub("[MASKED:private_key]", text)
    if "eyJ" in text:
        text = _JWT.sub("[MASKED:jwt]", text)
    if (
        "AKIA" in text
        or "ASIA" in text
        or "AIza" in text
        or "xox" in text
        or "_" in text
        and ("gh" in text or "k_" in text)
    ):
        text = _ACCESS_KEY.sub("[MASKED:access_key]", text)
    if "://" in text:
        text = _URL_PASSWORD.sub(r"\g<1>" + MASKED_SECRET, text)
    if "=" in text or ":" in text:
        text = _kv_secrets(text)
    if "earer" in text or "asic" in text or "EARER" in text or "ASIC" in text:
        text = _SCHEME_CREDENTIALS.sub(_scheme_credentials, text)
    if "@" in text:
        text = _EMAIL.sub("[MASKED:email]", text)
    if _numbers(text):
        text = _CARD.sub(_card, text)
        text = _PHONE.sub(_phone, text)
    return text


@lru_cache(maxsize=256)
def rules_pattern(patterns: tuple):
    """A tenant's patterns as one RE2 alternation (one scan per text, however many patterns), or None."""
    if not patterns:
        return None
    return re2.compile("|".join(f"(?:{p.pattern})" for p in patterns))


def _rules(text: str, pattern) -> str:
    """The tenant's pattern over the parts of a text that are not masked already (so a rule never
    masks inside a mask, and masking stays idempotent). Empty matches mask nothing."""
    if pattern is None:
        return text
    if "[MASKED" not in text:
        return _rule_sub(text, pattern)
    out, last = [], 0
    for token in MASK_TOKEN.finditer(text):
        out += (_rule_sub(text[last : token.start()], pattern), token.group(0))
        last = token.end()
    out.append(_rule_sub(text[last:], pattern))
    return "".join(out)


def _rule_sub(text: str, pattern) -> str:
    if not text:
        return text
    try:
        matches = list(pattern.finditer(text))
    except UnicodeEncodeError:  # lone surrogates (the API's parser refuses them; other callers may not)
        return _rule_sub(text.encode("utf-8", "replace").decode(), pattern)
    pieces, last = [], 0
    for m in matches:
        if m.end() > m.start():
            pieces += (text[last : m.start()], MASKED_RULE)
            last = m.end()
    if not pieces:
        return text
    pieces.append(text[last:])
    return "".join(pieces)


_ROUNDS = 3
# Texts left as they are, remembered (by the tenant pattern they were checked against): user agents,
# metadata values and the like repeat across events. Only clean texts (so no secret is kept here),
# only short ones, and a bounded number.
_CLEAN: dict = {}
_CLEAN_MAX, _CLEAN_TEXT_MAX = 8192, 256


def mask_text(text: str, pattern=None) -> str:
    """A text with the built-in detectors' and the tenant pattern's (rules_pattern) matches masked.

    Repeated until nothing changes (at most a few rounds, only when something was masked), so that a
    mask next to text never lets a second pass find more: the result is a fixed point.
    """
    if len(text) < 6:
        return text
    key = text if pattern is None else (pattern, text)
    if key in _CLEAN:
        return text
    original = text
    for _ in range(_ROUNDS):
        masked = _rules(_builtins(text), pattern)
        if masked == text:
            break
        text = masked
    if text is original and len(text) <= _CLEAN_TEXT_MAX:
        if len(_CLEAN) >= _CLEAN_MAX:
            _CLEAN.clear()
        _CLEAN[key] = None
    return text


# Rows --------------------------------------------------------------------------------------------
class _Masker:
    """One row's masking: the tenant's rules, and the paths masked so far."""

    __slots__ = ("keys", "paths", "pattern", "masked")

    def __init__(self, masking):
        self.keys = masking.keys
        self.paths = frozenset(masking.paths)
        self.pattern = rules_pattern(masking.patterns)
        self.masked: set[str] = set()

    def whole(self, value, path: str, replacement: str):
        """A value replaced whole (a secret key's or a rule's), unless there is nothing to hide."""
        if value is None or value == "" or value == replacement:
            return value
        self.masked.add(path)
        return replacement

    def text(self, value: str, path: str) -> str:
        if path in self.paths:
            return self.whole(value, path, MASKED_RULE)
        masked = mask_text(value, self.pattern)
        if masked != value:
            self.masked.add(path)
        return masked

    def json(self, value, path: str):
        """A JSON value, walked: secret keys and rules mask values whole, texts go through mask_text."""
        if isinstance(value, str):
            return self.text(value, path)
        if type(value) is int and value >= _CARD_NUMBER_MIN:  # a card number sent as a JSON number
            masked = _CARD.sub(_card, str(value))
            if masked[0] == "[":
                self.masked.add(path)
                return masked
            return value
        if isinstance(value, dict):
            for key, item in value.items():
                item_path = f"{path}.{key}"
                if item_path in self.paths or (self.keys and key.lower() in self.keys):
                    value[key] = self.whole(item, item_path, MASKED_RULE)
                elif secret_key(key):
                    value[key] = self.whole(item, item_path, MASKED_SECRET)
                else:
                    value[key] = self.json(item, item_path)
            return value
        if isinstance(value, list):
            for index, item in enumerate(value):
                item_path = f"{path}.{index}"
                value[index] = (
                    self.whole(item, item_path, MASKED_RULE) if item_path in self.paths else self.json(item, item_path)
                )
            return value
        return value


# Row columns a tenant path rule may mask whole, by their path in the API shape.
_RULE_ONLY_COLUMNS = (("actor_name", "actor.name"), ("actor_email", "actor.email"), ("resource_name", "resource.name"))


def mask_row(row: dict, policy) -> None:
    """Mask secrets in a validated row, in place, by the built-in detectors and the tenant's rules.

    Sets row["masked_fields"]: the sorted dotted paths (API shape) whose values were masked, kept
    from an earlier pass so that masking a row twice records the same paths.
    """
    m = _Masker(policy.masking)
    for column, path in (("message", "message"), ("user_agent", "context.user_agent")):
        value = row.get(column)
        if isinstance(value, str):
            row[column] = m.text(value, path)
    if m.paths:
        for column, path in _RULE_ONLY_COLUMNS:
            if path in m.paths:
                row[column] = m.whole(row.get(column), path, MASKED_RULE)
    metadata = row.get("metadata")
    if metadata:
        row["metadata"] = m.json(metadata, "metadata")
    changes = row.get("changes")
    if changes:
        for side in ("before", "after"):
            if changes.get(side):
                changes[side] = m.json(changes[side], f"changes.{side}")
    row["masked_fields"] = sorted(m.masked.union(row.get("masked_fields") or ()))
