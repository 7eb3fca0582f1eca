"""What an error body's title should be, written independently of the server's code."""

from __future__ import annotations


def first_sentence(detail: str) -> str:
    """The detail up to its first sentence end: a full stop at the end, or one followed by a space
    and a capital letter (a quote or a parenthesis); full stops inside names, numbers and
    patterns stay."""
    for index, char in enumerate(detail):
        if char != ".":
            continue
        rest = detail[index + 1 :]
        if not rest or (rest[0].isspace() and rest.lstrip()[:1] in tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ(\"'")):
            return detail[:index]
    return detail
