"""Which user an email signs in, claimed when the user registers, in Identity's own collection.

The user-details read model is eventually consistent: a sign-in a moment after the sign-up could
miss the new user there (and count as a failed attempt), and two sign-ups with one email could
both pass a check against it. Claiming the email is one conditional write, so the second sign-up
is refused at once and the first can sign in at once. The read model still finds emails that
became primary later (``PrimaryEmailDefined``).

A claim is written before its user is registered (in another store), so a sign-up whose
registration failed (the event store did not answer, the process died) leaves a claim for a user
that never existed. Such a claim lapses: after :data:`CLAIM_HOLDS` another sign-up may take it,
once the event store says its user was never registered. Until then it holds, so that a sign-up
still under way (a double click without an Idempotency-Key) is not overtaken by the second.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from eventualshop.kernel.messages import utc_now
from eventualshop.kernel.readmodels import Document, ReadModelStore
from functions.identity import credentials

if TYPE_CHECKING:
    from eventualshop.runtime.root import Root

EMAILS = "IdentityEmails"
#: Longer than a sign-up takes with every timeout it may meet (connect, statement, lock).
CLAIM_HOLDS = timedelta(minutes=1)

log = logging.getLogger("eventualshop.identity")


class Holder(StrEnum):
    """What became of the user who holds a claim."""

    KEEPS = "keeps"  # signs in with the email, or has it and it has not expired
    LEFT = "left"  # registered, but no longer has it (added, and expired unconfirmed)
    NONE = "none"  # never registered (its sign-up failed), or deleted since


class Claim(StrEnum):
    OURS = "ours"  # the email is now the user's (it may have been already: a retried sign-up)
    TAKEN = "taken"  # a registered user's
    PENDING = "pending"  # another sign-up's, whose user is not registered (yet)


def claim(
    store: ReadModelStore,
    email: str,
    user_id: uuid.UUID,
    holders: Callable[[uuid.UUID], Holder],
    now: datetime | None = None,
) -> Claim:
    """Claim ``email`` for ``user_id``; ``holders`` says what became of the user who holds it
    (:func:`holders_in`), asked only when another user does. A claim its holder keeps is taken;
    one it does not lapses after :data:`CLAIM_HOLDS`: a sign-up that never registered its user,
    or an email a user added and let expire (an added email used to be held for good, so anyone
    could keep its owner from signing up by adding it)."""
    now = now or utc_now()
    mine = {"id": email, "userId": str(user_id), "claimedAt": now.isoformat(), "version": 1}
    if store.upsert_if_newer(EMAILS, mine):
        return Claim.OURS
    found = store.get(EMAILS, email)
    if found is None:  # released since (its user deleted): claim it afresh
        return claim(store, email, user_id, holders, now)
    if found["userId"] == str(user_id):
        return Claim.OURS
    holder = uuid.UUID(str(found["userId"]))
    held = holders(holder)
    if held is Holder.KEEPS:
        return Claim.TAKEN
    if not _lapsed(found, now):
        return Claim.PENDING
    # One conditional write: of two sign-ups taking over the same lapsed claim, one wins.
    if not store.upsert_if_newer(EMAILS, mine | {"version": int(found["version"]) + 1}):
        found = store.get(EMAILS, email)
        return Claim.OURS if found and found["userId"] == str(user_id) else Claim.PENDING
    if held is Holder.NONE:
        credentials.forget_user(store, holder)  # the password kept for a user that never was
        log.warning("a sign-up never registered user %s; user %s takes its email", holder, user_id)
    else:
        log.info("user %s let an email it added expire; user %s takes it", holder, user_id)
    return Claim.OURS


def holders_in(root: Root, email: str) -> Callable[[uuid.UUID], Holder]:
    """What :func:`claim` asks, of ``email``'s holder, in ``root``'s event store."""
    from eventualshop.identity.events import EmailStatus
    from eventualshop.identity.user import User

    def holder(user_id: uuid.UUID) -> Holder:
        user = root.service("identity").repository.load(user_id)
        if not isinstance(user, User) or user.is_deleted:
            return Holder.NONE
        if email == user.sign_in_email:
            return Holder.KEEPS
        known = user.email(email)
        kept = known is not None and known.status is not EmailStatus.EXPIRED
        return Holder.KEEPS if kept else Holder.LEFT

    return holder


def backfill(store: ReadModelStore, root: Root, *, page: int = 500) -> int:
    """Claim, for its user, every email a live user has (not expired) that no one claims; how
    many it claimed. Emails added before adding one claimed it have none, and another user could
    claim one of them and sign in with it once its owner made it primary: run once after the
    upgrade (``eventualshop users claim-emails``). Taking what no one holds, it takes no claim
    over; a claim that is someone else's stays theirs."""
    from eventualshop.identity.events import EmailStatus
    from eventualshop.identity.read_models import USER_DETAILS

    claimed, offset = 0, 0
    while users := store.find(
        USER_DETAILS, {"isDeleted": False}, sort=[("id", "asc")], limit=page, offset=offset
    ):
        for user in users:
            user_id = uuid.UUID(str(user["userId"]))
            for email in user.get("emails", []):
                address = str(email["address"])
                expired = email.get("status") == EmailStatus.EXPIRED.value
                if expired or store.get(EMAILS, address) is not None:
                    continue
                held = claim(store, address, user_id, holders_in(root, address))
                claimed += held is Claim.OURS
        offset += page
    return claimed


def _lapsed(found: Document, now: datetime) -> bool:
    claimed_at = found.get("claimedAt")
    if claimed_at is None:  # claimed before claims were dated: that sign-up is long over
        return True
    return now - datetime.fromisoformat(str(claimed_at)) >= CLAIM_HOLDS


def let_go(store: ReadModelStore, email: str, user_id: uuid.UUID) -> None:
    """Let ``user_id``'s claim on ``email`` lapse now, after a request that claimed it was refused
    (a sign-up under a reused Idempotency-Key, a change-email on a deleted user): it held the
    email for a minute, and another user's sign-up with it was told one was under way. Lapsed,
    not deleted: the next claimant asks then what became of this user (:func:`claim`), so a
    concurrent request of the same user that did take the email still holds it, and a sign-up
    that never registered its user has its password forgotten."""
    found = store.get(EMAILS, email)
    if found is None or found["userId"] != str(user_id):
        return
    lapsed = found | {
        "claimedAt": (utc_now() - CLAIM_HOLDS).isoformat(),
        "version": int(found["version"]) + 1,
    }
    store.upsert_if_newer(EMAILS, lapsed)  # guarded: a claim taken over meanwhile stays


def owner(store: ReadModelStore, email: str) -> uuid.UUID | None:
    found = store.get(EMAILS, email)
    return uuid.UUID(str(found["userId"])) if found else None


def release(store: ReadModelStore, user_id: uuid.UUID) -> int:
    """A deleted user's emails may sign up again."""
    return store.delete_many(EMAILS, {"userId": str(user_id)})
