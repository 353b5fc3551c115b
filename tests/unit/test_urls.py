"""URLs in messages and logs: no password, in the user part or in the query."""

from __future__ import annotations

import pytest

from eventualshop.runtime.urls import shown


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("amqp://shop:pw@rabbit:5672/%2F", "amqp://shop:***@rabbit:5672/%2F"),
        (
            "amqps://shop:p%40ss@rabbit/vhost?heartbeat=5",
            "amqps://shop:***@rabbit/vhost?heartbeat=5",
        ),
        ("amqp://shop@rabbit/", "amqp://shop@rabbit/"),
        ("amqp://rabbit/", "amqp://rabbit/"),
        # libpq takes the password as a query parameter too (`migrate` printed it).
        (
            "postgresql://postgres@127.0.0.1:5432/shop?password=QuerySecret99",
            "postgresql://postgres@127.0.0.1:5432/shop?password=***",
        ),
        (
            "postgresql+psycopg://a:b@db/shop?sslmode=require&SSLPASSWORD=zz#x",
            "postgresql+psycopg://a:***@db/shop?sslmode=require&SSLPASSWORD=***#x",
        ),
        (
            "mongodb://u:pw@h1:27017,h2/x?replicaSet=rs",
            "mongodb://u:***@h1:27017,h2/x?replicaSet=rs",
        ),
        ("sqlite:///var/eventstore.sqlite3", "sqlite:///var/eventstore.sqlite3"),
        ("sqlite://", "sqlite://"),
        # Unescaped, a password reads differently to urllib and to SQLAlchemy: masked as both.
        (
            "postgresql+psycopg://postgres:Se@cret@127.0.0.1/x",
            "postgresql+psycopg://postgres:***@127.0.0.1/x",
        ),
        ("postgresql+psycopg://u:pa/ss@db/shop", "postgresql+psycopg://u:***@db/shop"),
        ("postgresql+psycopg://u:pa?ss@db/shop", "postgresql+psycopg://u:***@db/shop"),
        ("postgresql+psycopg://u:pa#ss@db/shop", "postgresql+psycopg://u:***@db/shop"),
        ("amqp://u:pw@rabbit:notport/", "amqp://u:***@rabbit:notport/"),
        # Secrets in the query of SQLAlchemy's ODBC form and of pymongo's options.
        (
            "mssql+pyodbc:///?odbc_connect=DRIVER%3DFreeTDS%3BPWD%3Dsecret",
            "mssql+pyodbc:///?odbc_connect=***",
        ),
        (
            "mongodb://h/x?tlsCertificateKeyFilePassword=secret&authMechanismProperties=AWS_SESSION_TOKEN:secret",
            "mongodb://h/x?tlsCertificateKeyFilePassword=***&authMechanismProperties=***",
        ),
    ],
)
def test_a_url_is_shown_without_its_secrets(url: str, expected: str) -> None:
    assert shown(url) == expected
