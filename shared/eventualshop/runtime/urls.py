"""URLs as a message or a log may show them: without the secrets they may carry."""

from __future__ import annotations

import urllib.parse

#: Query parameters that carry a secret in the URLs the shop takes (libpq's ``password`` and
#: ``sslpassword``, and what other clients spell the same way).
SECRET_PARAMETERS = frozenset(
    {"password", "pass", "passwd", "pwd", "sslpassword", "secret", "token", "api_key", "apikey"}
)
MASK = "***"


def shown(url: str) -> str:
    """``url`` with its password, and every query parameter that names a secret, as ``***``.

    A URL that cannot be split is shown as its scheme alone: a message must not quote what it
    cannot tell a secret in (an unescaped ``@`` in a password makes part of it look like the
    host)."""
    try:
        parts = urllib.parse.urlsplit(url)
        password = parts.password
    except ValueError:
        return _scheme_only(url)
    head, query_mark, rest = url.partition("?")
    if password is not None:
        user, _, host = parts.netloc.rpartition("@")
        if "@" in user:  # an unescaped "@" in the password: no telling where it ends
            return _scheme_only(url)
        # The netloc follows "scheme://", before any "?": its first occurrence in the head.
        head = head.replace(parts.netloc, f"{parts.username or ''}:{MASK}@{host}", 1)
    if parts.query:
        query, hash_mark, fragment = rest.partition("#")
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        if any(name.lower() in SECRET_PARAMETERS for name, _ in pairs):
            masked = [(n, MASK if n.lower() in SECRET_PARAMETERS else v) for n, v in pairs]
            rest = urllib.parse.urlencode(masked, safe="*") + hash_mark + fragment
    return head + query_mark + rest


def _scheme_only(url: str) -> str:
    scheme, colon, _ = url.partition(":")
    plain = scheme.isascii() and scheme.replace("+", "").replace("-", "").replace(".", "").isalnum()
    return f"{scheme}:{MASK}" if colon and plain else MASK
