"""The User aggregate, Given events / When command / Then events or rejection, per command
(reference §5.4 with the intended behaviour the ⚠ marks describe)."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from eventualshop.identity import rejections
from eventualshop.identity.commands import (
    ChangeEmail,
    ChangePassword,
    ConfirmEmail,
    DefinePrimaryEmail,
    DeleteUser,
    ExpiryEmail,
    RegisterUser,
)
from eventualshop.identity.events import (
    EmailChanged,
    EmailConfirmed,
    EmailExpired,
    EmailStatus,
    PrimaryEmailDefined,
    UserDeleted,
    UserPasswordChanged,
    UserRegistered,
)
from eventualshop.identity.user import USER
from eventualshop.kernel.errors import AggregateAlreadyExists
from eventualshop.kernel.testing import Scenario

USER_ID = uuid.UUID("6f1c2b1e-0000-4000-8000-000000000001")
CREDENTIAL = uuid.UUID("6f1c2b1e-0000-4000-8000-0000000000c1")
EMAIL, OTHER = "alice@example.com", "alice@work.example"
REGISTERED = UserRegistered(
    user_id=USER_ID, first_name="Alice", last_name="Smith", email=EMAIL, credential_id=CREDENTIAL
)
CONFIRMED = (
    EmailConfirmed(user_id=USER_ID, email=EMAIL),
    PrimaryEmailDefined(user_id=USER_ID, email=EMAIL),
)


def given(*events: object) -> Scenario:  # type: ignore[type-arg]
    return Scenario(USER).given(*events)  # type: ignore[arg-type]


def test_register_user_creates_the_user_with_an_unverified_email() -> None:
    command = RegisterUser(
        user_id=USER_ID,
        first_name="Alice",
        last_name="Smith",
        email="Alice@Example.com",
        credential_id=CREDENTIAL,
    )
    user = Scenario(USER).when(command).then(REGISTERED)
    assert [(e.address, e.status) for e in user.emails] == [(EMAIL, EmailStatus.UNVERIFIED)]
    assert user.primary_email is None
    assert user.roles == ("customer",)


def test_register_user_twice_is_refused() -> None:
    command = RegisterUser(
        user_id=USER_ID,
        first_name="Alice",
        last_name="Smith",
        email=EMAIL,
        credential_id=CREDENTIAL,
    )
    with pytest.raises(AggregateAlreadyExists):
        given(REGISTERED).when(command).then()


@pytest.mark.parametrize(
    ("field", "value"),
    [("first_name", "Al"), ("last_name", "x" * 31), ("email", "not-an-email")],
)
def test_register_user_holds_the_original_rules(field: str, value: str) -> None:
    fields = {
        "user_id": USER_ID,
        "first_name": "Alice",
        "last_name": "Smith",
        "email": EMAIL,
        "credential_id": CREDENTIAL,
    }
    with pytest.raises(ValidationError):
        RegisterUser.model_validate(fields | {field: value})


def test_the_same_first_and_last_name_breaks_an_invariant() -> None:
    command = RegisterUser(
        user_id=USER_ID,
        first_name="Alice",
        last_name="Alice",
        email=EMAIL,
        credential_id=CREDENTIAL,
    )
    Scenario(USER).when(command).then_rejected(code="invariant-violated")


def test_confirm_email_verifies_it_and_makes_it_primary() -> None:
    user = given(REGISTERED).when(ConfirmEmail(user_id=USER_ID, email=EMAIL)).then(*CONFIRMED)
    assert user.emails[0].status is EmailStatus.VERIFIED
    assert user.primary_email == EMAIL


def test_confirm_email_again_changes_nothing() -> None:
    given(REGISTERED, *CONFIRMED).when(ConfirmEmail(user_id=USER_ID, email=EMAIL)).then()


def test_confirming_an_email_confirmed_before_does_not_make_it_primary_again() -> None:
    # Was: PrimaryEmailDefined. The route takes no token, so anyone who knew the user's id could
    # switch the email the user signs in with back to an older one, and lock them out of it.
    other_confirmed = (
        EmailChanged(user_id=USER_ID, email=OTHER),
        EmailConfirmed(user_id=USER_ID, email=OTHER),
        PrimaryEmailDefined(user_id=USER_ID, email=OTHER),
    )
    user = (
        given(REGISTERED, *CONFIRMED, *other_confirmed)
        .when(ConfirmEmail(user_id=USER_ID, email=EMAIL))
        .then()
    )
    assert user.primary_email == OTHER


def test_confirm_an_unknown_email_is_refused() -> None:
    given(REGISTERED).when(ConfirmEmail(user_id=USER_ID, email=OTHER)).then_rejected(
        rejections.EmailNotFound, code="email-not-found"
    )


def test_expiry_fired_before_confirmation_expires_the_email_and_confirmation_is_then_refused() -> (
    None
):
    expired = EmailExpired(user_id=USER_ID, email=EMAIL)
    given(REGISTERED).when(ExpiryEmail(user_id=USER_ID, email=EMAIL)).then(expired)
    given(REGISTERED, expired).when(ConfirmEmail(user_id=USER_ID, email=EMAIL)).then_rejected(
        rejections.EmailExpired, code="email-expired"
    )


def test_expiry_fired_after_confirmation_is_a_no_op() -> None:
    given(REGISTERED, *CONFIRMED).when(ExpiryEmail(user_id=USER_ID, email=EMAIL)).then()


def test_change_email_adds_a_new_unverified_email() -> None:
    user = (
        given(REGISTERED, *CONFIRMED)
        .when(ChangeEmail(user_id=USER_ID, email=OTHER))
        .then(EmailChanged(user_id=USER_ID, email=OTHER))
    )
    assert user.email(OTHER) is not None
    assert user.primary_email == EMAIL


def test_change_email_to_the_primary_one_changes_nothing_case_insensitively() -> None:
    given(REGISTERED, *CONFIRMED).when(
        ChangeEmail(user_id=USER_ID, email="ALICE@example.com")
    ).then()


def test_an_expired_email_may_be_added_again() -> None:
    expired = EmailExpired(user_id=USER_ID, email=EMAIL)
    user = (
        given(REGISTERED, expired)
        .when(ChangeEmail(user_id=USER_ID, email=EMAIL))
        .then(EmailChanged(user_id=USER_ID, email=EMAIL))
    )
    assert user.email(EMAIL) is not None
    assert user.email(EMAIL).status is EmailStatus.UNVERIFIED  # type: ignore[union-attr]


def test_an_expired_email_added_again_keeps_its_place_and_remains_the_one_to_sign_in_with() -> None:
    # Moved to the end, the registered email gave its first place, the one sign-in reads, to an
    # email added since and never confirmed.
    expired = EmailExpired(user_id=USER_ID, email=EMAIL)
    added = EmailChanged(user_id=USER_ID, email=OTHER)
    user = (
        given(REGISTERED, expired, added)
        .when(ChangeEmail(user_id=USER_ID, email=EMAIL))
        .then(EmailChanged(user_id=USER_ID, email=EMAIL))
    )
    assert [email.address for email in user.emails] == [EMAIL, OTHER]
    assert user.sign_in_email == EMAIL


def test_define_primary_email_needs_a_verified_email() -> None:
    changed = EmailChanged(user_id=USER_ID, email=OTHER)
    given(REGISTERED, *CONFIRMED, changed).when(
        DefinePrimaryEmail(user_id=USER_ID, email=OTHER)
    ).then_rejected(rejections.EmailNotVerified, code="email-not-verified")


def test_define_primary_email_switches_between_verified_emails() -> None:
    changed = EmailChanged(user_id=USER_ID, email=OTHER)
    other_confirmed = EmailConfirmed(user_id=USER_ID, email=OTHER)
    other_primary = PrimaryEmailDefined(user_id=USER_ID, email=OTHER)
    user = (
        given(REGISTERED, *CONFIRMED, changed, other_confirmed, other_primary)
        .when(DefinePrimaryEmail(user_id=USER_ID, email=EMAIL))
        .then(PrimaryEmailDefined(user_id=USER_ID, email=EMAIL))
    )
    assert user.sign_in_email == EMAIL
    given(REGISTERED, *CONFIRMED).when(DefinePrimaryEmail(user_id=USER_ID, email=EMAIL)).then()


def test_change_password_names_the_new_credential() -> None:
    new = uuid.uuid4()
    user = (
        given(REGISTERED)
        .when(ChangePassword(user_id=USER_ID, credential_id=new))
        .then(UserPasswordChanged(user_id=USER_ID, credential_id=new))
    )
    assert user.credential_id == new
    given(REGISTERED).when(ChangePassword(user_id=USER_ID, credential_id=CREDENTIAL)).then()


def test_delete_user_deletes_once_and_then_refuses_changes() -> None:
    deleted = UserDeleted(user_id=USER_ID)
    user = given(REGISTERED).when(DeleteUser(user_id=USER_ID)).then(deleted)
    assert user.is_deleted
    given(REGISTERED, deleted).when(DeleteUser(user_id=USER_ID)).then()
    given(REGISTERED, deleted).when(ChangeEmail(user_id=USER_ID, email=OTHER)).then_rejected(
        rejections.UserDeleted, code="user-deleted"
    )


def test_no_identity_event_has_a_field_that_could_hold_a_password_or_a_hash() -> None:
    for event_type in USER.events:
        names = " ".join(event_type.model_fields).lower()
        assert "password" not in names, event_type
        assert "hash" not in names, event_type
