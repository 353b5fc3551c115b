"""Property: however the broker delivers the users' events (duplicated, shuffled, and every event
that arrives before its predecessor refused and redelivered later, as the cart's property test
delivers them), the user details end exactly as after in-order delivery, and they agree with the
users themselves: the emails and their statuses in order, the primary email, the email a user
signs in with (what sign-in looks a user up by) and the tombstone.

Two users take a random mix of every command after registering; emails come from a small pool,
so an email is added, confirmed, expired and added again; rejected commands raise nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventualshop.identity import commands as c
from eventualshop.identity.read_models import PROJECTIONS, USER_DETAILS
from eventualshop.identity.user import USER, User
from eventualshop.kernel.messages import Command
from eventualshop.kernel.readmodels import Document
from tests.unit.delivery import SEEDS, delivered_contents, in_order_contents, session_history

USERS = [UUID(f"1de0a100-0000-4000-8000-00000000b{n:03d}") for n in range(2)]
CREDENTIALS = [UUID(f"1de0a100-0000-4000-8000-00000000c{n:03d}") for n in range(2)]
EMAILS = ["ada@example.com", "ada@work.example", "countess@example.org"]
KINDS = ["change"] * 4 + ["confirm"] * 4 + ["expire"] * 2 + ["primary"] * 2
KINDS += ["password", "delete"]


@dataclass(frozen=True)
class Op:
    kind: str
    user: int
    email: int

    def command(self) -> Command:
        user, email = USERS[self.user], EMAILS[self.email]
        match self.kind:
            case "register":
                return c.RegisterUser(
                    user_id=user,
                    first_name="Augusta",
                    last_name="Lovelace",
                    email=email,
                    credential_id=CREDENTIALS[0],
                )
            case "change":
                return c.ChangeEmail(user_id=user, email=email)
            case "confirm":
                return c.ConfirmEmail(user_id=user, email=email)
            case "expire":
                return c.ExpiryEmail(user_id=user, email=email)
            case "primary":
                return c.DefinePrimaryEmail(user_id=user, email=email)
            case "password":
                return c.ChangePassword(user_id=user, credential_id=CREDENTIALS[self.email % 2])
        return c.DeleteUser(user_id=user)


ops = st.builds(
    Op,
    kind=st.sampled_from(KINDS),
    user=st.integers(0, len(USERS) - 1),
    email=st.integers(0, len(EMAILS) - 1),
)
sessions = st.lists(ops, max_size=30).map(
    lambda plan: [Op("register", n, n) for n in range(len(USERS))] + plan
)


def assert_the_details_agree_with_the_users(
    details: dict[str, Document], states: dict[UUID, User]
) -> None:
    for user_id, user in states.items():
        shown = details[str(user_id)]
        emails = [{"address": e.address, "status": e.status.value} for e in user.emails]
        assert shown["emails"] == emails
        assert shown["primaryEmail"] == user.primary_email
        assert shown["signInEmail"] == user.sign_in_email
        assert shown["isDeleted"] == user.is_deleted
        assert "credentialId" not in shown  # the credential never enters a read model


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(session=sessions, seed=SEEDS)
def test_any_delivery_order_with_duplicates_gives_the_in_order_documents(
    session: list[Op], seed: int
) -> None:
    history = session_history(USER, (op.command() for op in session))
    in_order = in_order_contents(history.events, PROJECTIONS)
    assert_the_details_agree_with_the_users(in_order[USER_DETAILS], history.states)

    assert delivered_contents(history.events, PROJECTIONS, seed) == in_order
