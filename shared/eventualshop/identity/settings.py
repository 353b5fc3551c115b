"""Identity's own settings (``EVENTUALSHOP_IDENTITY_…``); the signing key is in
``runtime.auth.AuthSettings`` (``EVENTUALSHOP_AUTH_SIGNING_KEY``, a Secret in deployments).

Identity's functions read them where they use them (a token's lifetime, the sign-in hold, the
hashing profile); ``configure``, which the composition root runs before the context's first
function, reads them once so that a value out of range stops ``serve`` at start-up and makes a
deployed function unready, in one line naming the variable, instead of failing every sign-in."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from eventualshop.kernel.declaration import Surroundings
from eventualshop.kernel.environment import EnvironmentConfig, EnvironmentSettings


class IdentitySettings(EnvironmentSettings):
    model_config: ClassVar[EnvironmentConfig] = EnvironmentConfig(
        env_prefix="EVENTUALSHOP_IDENTITY_", extra="ignore"
    )

    password_hash: Literal["rfc9106-low-memory", "cheapest"] = Field(
        "rfc9106-low-memory",
        description="argon2id parameters: RFC 9106's low-memory profile (64 MiB, 3 passes); "
        "'cheapest' only for tests, which hash hundreds of passwords",
    )
    access_token_seconds: int = Field(600, ge=30, le=3600)
    refresh_token_seconds: int = Field(14 * 24 * 3600, ge=60)
    #: Failed sign-ins in a row for one email before it is held back, and the first hold.
    sign_in_attempts: int = Field(5, ge=1)
    lockout_seconds: int = Field(30, ge=1)


def configure(surroundings: Surroundings) -> None:  # noqa: ARG001 - the hook's signature
    IdentitySettings()  # a ValidationError names the variable (EnvironmentSettings.problem)
