"""Stored outcomes of the cart's payment commands lose their request fingerprint.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29

A command's outcome is stored with a fingerprint of its request, to tell a repeated
Idempotency-Key from a reused one. Until this release the fingerprint of the cart's derived HTTP
functions was a plain SHA-256 of the request's JSON, secrets included: the card number, the
security code, the PayPal password. With the rest of the request in the event beside it, a few
thousand candidate codes (or a dictionary of passwords) give the secret back. The fingerprint now
leaves every secret out (``runtime.http._fingerprint``, form ``2:``); this migration removes the
old ones where a secret may be in them: the outcomes on the first event of a card or PayPal
command, and every outcome the cart kept for a rejected command (which command it was is not
stored). A repeat of such a message id is then answered with its first outcome, as an outcome
without a fingerprint always was.

Pure SQL, with the database's own JSON function, so the offline script does the same as
``migrate``. Nothing to undo: the digests are gone.

During a rolling upgrade, instances of the previous release that keep serving after this ran
still write such digests (and are refused by nothing: fingerprints of another form are not
compared). Replace them before migrating, or run this revision's two statements again once they
are gone (``eventualshop migrate`` does not: the revision is recorded as applied).
"""

from __future__ import annotations

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

CART = "shopping-cart.ShoppingCart"  # the cart's command consumer (``context.aggregate type``)
PAYMENT_EVENTS = "'CreditCardAdded', 'DebitCardAdded', 'PayPalAdded'"
HAS_FINGERPRINT = "outcome LIKE '%\"fingerprint\"%'"


def _without_fingerprint(dialect: str) -> str:
    """SQL for ``outcome`` without its ``fingerprint`` member."""
    if dialect == "postgresql":
        return "CAST(CAST(outcome AS jsonb) - 'fingerprint' AS text)"
    if dialect == "mssql":
        return "JSON_MODIFY(outcome, '$.fingerprint', NULL)"  # lax mode: NULL deletes the key
    return "json_remove(outcome, '$.fingerprint')"


def upgrade() -> None:
    stripped = _without_fingerprint(op.get_context().dialect.name)
    op.execute(
        f"UPDATE events SET outcome = {stripped} "
        f"WHERE command_consumer = '{CART}' AND event_type IN ({PAYMENT_EVENTS}) "
        f"AND {HAS_FINGERPRINT}"
    )
    op.execute(
        f"UPDATE processed_messages SET outcome = {stripped} "
        f"WHERE consumer = '{CART}' AND {HAS_FINGERPRINT}"
    )


def downgrade() -> None:
    """The removed digests are not restored: they were what had to go."""
