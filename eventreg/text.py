"""Text that users type: checked on the way in, neutralised on the way out.

In: titles, names, locations, reasons and the like are single lines without
control characters (C0, DEL, C1), bidirectional overrides and marks, or line and
paragraph separators; a description may also hold newlines and tabs. Emails are
ASCII only, so a Cyrillic look-alike of a Latin letter can never pass for an
existing address (an internationalised domain is given in its xn-- form).

Out: rows written before these rules, or by other tools, may still hold such
characters, so everything shown on a terminal goes through `for_terminal`, which
turns them into visible escapes such as `\\x1b`. (CSV cells are neutralised in
SQL by the exports themselves, see `db/export.py`.)
"""

from __future__ import annotations

import re
import unicodedata

from eventreg.errors import InvalidInput

# Characters that can move the cursor, clear a screen, plant a link or reorder what
# a reader sees: C0 and C1 controls, DEL, bidi marks/embeddings/overrides/isolates,
# line and paragraph separators, and the byte-order mark; format characters that show
# nothing and so make one name look like another ("Ad\u00admin" beside "Admin"): soft
# hyphen, zero-width space, word joiner, invisible operators, the deprecated format
# characters, interlinear annotations and tags (ZWJ and ZWNJ stay: Persian, Indic
# scripts and emoji need them); and unpaired surrogates, which JSON can carry ("\ud800")
# but no UTF-8 output or database column can hold.
_INVISIBLE = (
    "\u00ad\u061c\u180e\u200b\u200e\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\u2066-\u206f"
    "\ufeff\ufff9-\ufffb\ud800-\udfff\U000e0001\U000e0020-\U000e007f"
)
UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f{_INVISIBLE}]")
UNSAFE_IN_BLOCK = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_INVISIBLE}]")  # tab and newline allowed
EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
MAX_EMAIL = 254


# Beyond UNSAFE, what shows nothing and so lets one name pass for another: every other
# format character (Unicode category Cf: Arabic number signs, musical and shorthand format
# controls...) except the joiners scripts and emoji need, the combining grapheme joiner,
# and the Hangul fillers, which are letters that draw nothing.
_JOINERS = "\u200c\u200d"
_BLANK_LETTERS = "\u034f\u115f\u1160\u3164\uffa0"


def _invisible(char: str) -> bool:
    return char in _BLANK_LETTERS or (unicodedata.category(char) == "Cf" and char not in _JOINERS)


def _unsafe(text: str, pattern: re.Pattern[str]) -> str | None:
    """The first character of `text` that input refuses, or None."""
    bad = pattern.search(text)
    if bad:
        return bad.group()
    if text.isascii():
        return None
    return next((char for char in text if _invisible(char)), None)


def _describe(char: str) -> str:
    return f"U+{ord(char):04X}"


def line(value: str, field: str, max_chars: int, *, required: bool = True, collapse: bool = False) -> str:
    """One line of text: NFC, trimmed (inner runs of spaces folded with `collapse`)."""
    text = unicodedata.normalize("NFC", value)
    bad = _unsafe(text, UNSAFE)
    if bad:
        raise InvalidInput(f"the {field} may not contain control, bidi or invisible characters ({_describe(bad)})")
    text = " ".join(text.split()) if collapse else text.strip()
    if required and not text:
        raise InvalidInput(f"the {field} may not be empty")
    if len(text) > max_chars:
        raise InvalidInput(f"the {field} may be at most {max_chars} characters")
    return text


def block(value: str, field: str, max_chars: int) -> str:
    """Several lines of text (a description): newlines and tabs allowed, nothing else."""
    text = unicodedata.normalize("NFC", value).replace("\r\n", "\n").strip()
    bad = _unsafe(text, UNSAFE_IN_BLOCK)
    if bad:
        raise InvalidInput(f"the {field} may not contain control, bidi or invisible characters ({_describe(bad)})")
    if len(text) > max_chars:
        raise InvalidInput(f"the {field} may be at most {max_chars} characters")
    return text


def email(value: str) -> str:
    text = value.strip()
    if len(text) > MAX_EMAIL or not EMAIL.match(text):
        raise InvalidInput(f"not a valid email address: {for_terminal(text[:80])!r} (ASCII only; IDN domains as xn--)")
    return text


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else _escape_char(match.group())  # \\U000e0041, never \\ue0041


def for_terminal(value: str, *, keep_newlines: bool = False) -> str:
    """What is safe to print: every character input refuses becomes a visible escape (the
    invisible ones too, so an old row's "Ad<U+1D173>min" does not pass for "Admin")."""
    if keep_newlines:
        return "\n".join(for_terminal(part) for part in value.split("\n"))
    shown = UNSAFE.sub(_escape, value)
    if shown.isascii():
        return shown
    return "".join(_escape_char(char) if _invisible(char) else char for char in shown)


def _escape_char(char: str) -> str:
    code = ord(char)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


# Characters a CSV cell never carries (they become U+FFFD), in SQL's translate() and here alike.
CSV_REPLACED = "".join(chr(c) for c in [*range(0x01, 0x20), *range(0x7F, 0xA0)]) + (
    "\u061c\u200b\u200e\u200f\u2060\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff"
)
CSV_REPLACEMENT = "\ufffd"
_CSV_TABLE = str.maketrans({c: CSV_REPLACEMENT for c in CSV_REPLACED + "\x00"})


def csv_cell(value: str) -> str:
    """A text cell a spreadsheet shows and never runs: the rule of the COPY exports in db/export.py."""
    safe = value.translate(_CSV_TABLE)
    return "'" + safe if safe[:1] in ("=", "+", "-", "@") else safe


# A fast look at a block of UTF-8 CSV rows, at memory speed, for the exports (db/export.py)
# and the remote client's re-check (api/remote.py): bytes that are never a character
# csv_cell replaces (printable ASCII, the row's "\n", every byte of a multi-byte character)
# are deleted by translate(), so what is left is a control or DEL; then the first bytes of
# the replaced characters above U+007F, and a search for them.
_PLAIN = bytes([*range(0x20, 0x7F), 0x0A, *range(0x80, 0x100)])
_HIGH = [c for c in CSV_REPLACED if ord(c) > 0x7F]
_NOT_LEADS = bytes(b for b in range(0x100) if b not in {c.encode()[0] for c in _HIGH})
_HIGH_FOUND = re.compile("[" + "".join(re.escape(c) for c in _HIGH) + "]")


def csv_block_has_replaced(block: bytes, rows: int) -> bool:
    """Whether a block of `rows` UTF-8 CSV rows holds a character csv_cell replaces, or a line
    break inside a cell (then the block is looked at cell by cell)."""
    if block.translate(None, _PLAIN) or block.count(b"\n") != rows:
        return True
    return bool(block.translate(None, _NOT_LEADS)) and _HIGH_FOUND.search(block.decode()) is not None
