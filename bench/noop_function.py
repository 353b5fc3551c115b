"""The reference for the cold-start benchmark: a functions-framework function doing nothing."""

from flask import Request


def noop(request: Request) -> tuple[str, int]:
    del request
    return "", 202
