"""Reading secrets: a hidden prompt, or lines from standard input for scripts.

Secrets are never taken as flag values, so they stay out of shell history and `ps`.
"""

from __future__ import annotations

import sys

from eventreg.errors import InvalidInput


def _first_upper(label: str) -> str:
    return label[:1].upper() + label[1:]


def stdin_line(what: str) -> str:
    line = sys.stdin.readline()
    if not line:
        raise InvalidInput(f"expected {what} on standard input")
    return line.rstrip("\r\n")


def secret(label: str, from_stdin: bool, confirm: bool = False) -> str:
    if from_stdin:
        return stdin_line(label)
    if not sys.stdin.isatty():
        raise InvalidInput(f"no terminal to ask for the {label}: pass --password-stdin")
    import typer

    value: str = typer.prompt(_first_upper(label), hide_input=True, confirmation_prompt=confirm)
    return value


def text(label: str) -> str:
    if not sys.stdin.isatty():
        raise InvalidInput(f"no terminal to ask for the {label}: give it as an option")
    import typer

    value: str = typer.prompt(_first_upper(label))
    return value


def questions_and_answers(questions: list[str], from_stdin: bool, minimum: int = 2) -> list[tuple[str, str]]:
    """Pairs of (question, answer). Questions come from --question or a prompt;
    answers from hidden prompts, or one a line on stdin in question order."""
    asked = list(questions)
    if not asked:
        if from_stdin:
            raise InvalidInput(f"give --question at least {minimum} times with --password-stdin")
        asked = [text(f"security question {number}") for number in range(1, minimum + 1)]
    pairs = []
    for question in asked:
        label = f"answer to {question!r}"
        pairs.append((question, secret(label, from_stdin)))
    return pairs
