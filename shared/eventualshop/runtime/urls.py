"""URLs as a message or a log may show them: without the secrets they may carry."""

from __future__ import annotations

import re
import urllib.parse

#: Query parameters that carry a secret in the URLs the shop takes: libpq's ``password`` and
#: ``sslpassword``, SQLAlchemy's ``odbc_connect`` (a whole ODBC string, ``PWD=`` included),
#: pymongo's key-file password and mechanism properties (an AWS session token), and what other
#: clients spell the same way. Compared without regard to case.
SECRET_PARAMETERS = frozenset(
    {
        "password",
        "pass",
        "passwd",
        "pwd",
        "sslpassword",
        "secret",
        "token",
        "api_key",
        "apikey",
        "odbc_connect",
        "tlscertificatekeyfilepassword",
        "authmechanismproperties",
    }
)
MASK = "***"

#: The user part of a URL as SQLAlchemy reads it (``engine/url.py``): the password runs to the
#: first ``@`` and may hold ``/`` ``?`` ``#``, which end it for ``urllib``.
_SQLALCHEMY_USER = re.compile(r"[\w+.-]+://[^:/]*:(?P<password>[^@]*)@")


def shown(url: str) -> str:
    """``url`` with its password, and every query parameter that names a secret, as ``***``.

    The password is masked as each reader of URLs would find it (``urllib``, which pika and
    libpq follow, and SQLAlchemy, which differ when it holds an unescaped ``@ / ? #``), the
    longest first, so no reading leaves a piece of it."""
    passwords = set()
    try:
        passwords.add(urllib.parse.urlsplit(url).password or "")
    except ValueError:  # a port that is no number: the password is still urllib's to find
        netloc = url.partition("://")[2].partition("/")[0]
        user = netloc.rpartition("@")[0]
        passwords.add(user.partition(":")[2])
    found = _SQLALCHEMY_USER.match(url)
    if found is not None:
        passwords.add(found["password"])
    head = url
    for password in sorted(filter(None, passwords), key=len, reverse=True):
        head = head.replace(f":{password}@", f":{MASK}@", 1)
    return _without_secret_parameters(head)


def _without_secret_parameters(url: str) -> str:
    path, mark, rest = url.partition("?")
    if not mark:
        return url
    query, hash_mark, fragment = rest.partition("#")
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    if not any(name.lower() in SECRET_PARAMETERS for name, _ in pairs):
        return url
    masked = [(n, MASK if n.lower() in SECRET_PARAMETERS else v) for n, v in pairs]
    return path + mark + urllib.parse.urlencode(masked, safe="*") + hash_mark + fragment
