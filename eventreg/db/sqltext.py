"""SQL files read the way PostgreSQL reads them: statements, where they start, what they begin with.

A `;` ends a statement only outside quotes, comments, parentheses and bodies: '...'
and E'...' strings, "..." identifiers, $tag$...$tag$ bodies, -- and nested /* */
comments, ( ... ) (a rule's DO ALSO (...; ...)), and the BEGIN ATOMIC ... END body of
a SQL-standard function. Strings are read with standard_conforming_strings on, which
the runners' sessions set whatever the database's default. The runners use this to
run a no-transaction file statement by statement, and to refuse, before anything
runs, a file that would end or start transactions of its own or change how the rest
of it is read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from eventreg.errors import InvalidInput

# PostgreSQL takes any character above ASCII as a letter in names and $tag$s.
_WORD = re.compile(r"[A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_$\u0080-\U0010ffff]*")
_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_\u0080-\U0010ffff]*)?\$")

# Statements that begin, end or divide a transaction: in a file they would commit part
# of it behind the runner's back (and its history row would no longer go with it).
TRANSACTION_CONTROL = ("BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT", "SAVEPOINT", "RELEASE")


@dataclass(frozen=True)
class Statement:
    line: int  # where the statement's code starts in the file, from 1
    text: str  # from its first word to its `;` (comments before it left out)
    words: tuple[str, ...]  # its first three words, upper case

    @property
    def controls_transactions(self) -> bool:
        first = self.words[0] if self.words else ""
        if first == "PREPARE":  # PREPARE TRANSACTION; PREPARE name AS ... is a plain statement
            return self.words[1:2] == ("TRANSACTION",)
        return first in TRANSACTION_CONTROL

    @property
    def changes_how_strings_read(self) -> bool:
        """SET [SESSION|LOCAL] standard_conforming_strings: the rest would be read otherwise."""
        return self.words[:1] == ("SET",) and "STANDARD_CONFORMING_STRINGS" in self.words[1:3]


class _Reader:
    def __init__(self, sql: str) -> None:
        self.sql = sql
        self.at = 0
        self.statements: list[Statement] = []
        self.start: int | None = None  # offset of the current statement's first code character
        self.words: list[str] = []
        self.previous = ""  # the token before this one: a word (upper case) or a character
        self.atomic = 0  # depth inside BEGIN ATOMIC ... END (CASE ... END pairs count too)
        self.parens = 0  # depth inside ( ... )

    def read(self) -> list[Statement]:
        sql = self.sql
        while self.at < len(sql):
            char = sql[self.at]
            if char.isspace():
                self.at += 1
            elif sql.startswith("--", self.at):
                end = sql.find("\n", self.at)
                self.at = len(sql) if end < 0 else end
            elif sql.startswith("/*", self.at):
                self._block_comment()
            elif char == ";" and not self.atomic and not self.parens:
                self._begin()
                self.at += 1
                self._end()
            else:
                self._begin()
                self._token(char)
        self._end()
        return self.statements

    def _begin(self) -> None:
        if self.start is None:
            self.start = self.at

    def _end(self) -> None:
        if self.start is not None:
            text = self.sql[self.start : self.at].strip()
            line = self.sql.count("\n", 0, self.start) + 1
            self.statements.append(Statement(line, text, tuple(self.words[:3])))
        self.start, self.words, self.previous, self.atomic, self.parens = None, [], "", 0, 0

    def _block_comment(self) -> None:
        depth, at = 0, self.at
        while at < len(self.sql):
            if self.sql.startswith("/*", at):
                depth, at = depth + 1, at + 2
            elif self.sql.startswith("*/", at):
                depth, at = depth - 1, at + 2
                if depth == 0:
                    break
            else:
                at += 1
        self.at = at

    def _token(self, char: str) -> None:
        sql, at = self.sql, self.at
        previous = sql[at - 1] if at else " "
        if char in "eE" and sql.startswith("'", at + 1) and not _is_word_char(previous):
            self.at = _quoted(sql, at + 1, "'", backslashes=True)
        elif char == "'":
            self.at = _quoted(sql, at, "'", backslashes=False)
        elif char == '"':
            self.at = _quoted(sql, at, '"', backslashes=False)
        elif char == "$" and not _is_word_char(previous) and (tag := _DOLLAR_TAG.match(sql, at)):
            end = sql.find(tag.group(), tag.end())
            self.at = len(sql) if end < 0 else end + len(tag.group())
        elif word := _WORD.match(sql, at):
            self._word(word.group().upper())
            self.at = word.end()
            return
        else:
            if char == "(":
                self.parens += 1
            elif char == ")" and self.parens:
                self.parens -= 1
            self.at += 1
        self.previous = char

    def _word(self, word: str) -> None:
        # BEGIN ATOMIC opens a body only in CREATE [OR REPLACE] FUNCTION / PROCEDURE, the two
        # words side by side (`SELECT begin, atomic` is two columns)
        if word == "ATOMIC" and self.previous == "BEGIN" and self.words[:1] == ["CREATE"]:
            self.atomic += 1
        elif self.atomic and word == "CASE":
            self.atomic += 1
        elif self.atomic and word == "END":
            self.atomic -= 1
        self.words.append(word)
        self.previous = word
        if len(self.words) > 64:  # only the first three are ever looked at
            del self.words[3:]


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char in "_$" or ord(char) >= 0x80


def _quoted(sql: str, at: int, quote: str, *, backslashes: bool) -> int:
    """The offset just past the string or identifier that opens at `at`."""
    at += 1
    while at < len(sql):
        char = sql[at]
        if backslashes and char == "\\":
            at += 2
        elif char == quote:
            if sql.startswith(quote, at + 1):  # a doubled quote stands for itself
                at += 2
            else:
                return at + 1
        else:
            at += 1
    return at


def statements(sql: str) -> list[Statement]:
    """The statements of a file, in order; comments and blank text between them left out."""
    return _Reader(sql).read()


def check_runnable(name: str, sql: str) -> None:
    """Refuse, naming the file and line, a file that has no statement or controls transactions."""
    found = statements(sql)
    if not found:
        raise InvalidInput(f"{name} has no SQL statement (only comments or nothing): write it or delete it")
    for statement in found:
        if statement.controls_transactions:
            raise InvalidInput(
                f"{name} line {statement.line}: {statement.words[0]} controls the transaction, which the runner "
                "owns (each file commits with its history row, or not at all): remove it"
            )
        if statement.changes_how_strings_read:
            raise InvalidInput(
                f"{name} line {statement.line}: standard_conforming_strings changes how the rest of the file is "
                "read; the runner reads files with it on: remove it (write E'...' for backslash escapes)"
            )
