"""The Shopping Cart's own settings, read with the prefix ``EVENTUALSHOP_SHOPPING_CART_``.

The platform's settings know no context; what only the cart needs lives here and reaches the
domain through ``configure``, which the composition root calls once before the first function.

The card-token key turns card numbers into tokens. A card number has little entropy, so with its
stored last four digits whoever knows the key can recover the number from a token: the key is
never one written in the source. Outside the embedded default the shop refuses to start without
one; on a laptop a random key is generated once and kept in the data directory, so tokens stay
stable across restarts.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import ClassVar

from pydantic import Field, SecretStr, field_validator

from eventualshop.kernel.declaration import ConfigurationMissing, Surroundings
from eventualshop.kernel.environment import EnvironmentConfig, EnvironmentSettings, kept_key
from eventualshop.shopping_cart.payment_methods import use_card_token_key

CARD_TOKEN_KEY_VARIABLE = "EVENTUALSHOP_SHOPPING_CART_CARD_TOKEN_KEY"
KEPT_KEY_FILE = "shopping-cart-card-token.key"
MIN_KEY_BYTES = 16


class CartSettings(EnvironmentSettings):
    model_config: ClassVar[EnvironmentConfig] = EnvironmentConfig(
        env_prefix="EVENTUALSHOP_SHOPPING_CART_", extra="ignore"
    )

    card_token_key: SecretStr | None = Field(
        None,
        description="HMAC key (16+ bytes) that turns card numbers into tokens; required outside "
        "the embedded default (there: generated once and kept in the data directory)",
    )

    @field_validator("card_token_key")
    @classmethod
    def _long_enough(cls, key: SecretStr | None) -> SecretStr | None:
        # Checked here, not only where the key is used, so a short one is a setting to fix,
        # named in one line (a misconfiguration), not a ValueError at start-up.
        if key is not None and len(key.get_secret_value().encode()) < MIN_KEY_BYTES:
            raise ValueError(f"must be {MIN_KEY_BYTES} bytes or more (e.g. `openssl rand -hex 32`)")
        return key


def configure(surroundings: Surroundings) -> None:
    key = CartSettings().card_token_key
    if key is not None:
        use_card_token_key(key.get_secret_value().encode())
    elif surroundings.embedded:
        use_card_token_key(functools.partial(kept_card_token_key, surroundings.data_dir))
    else:
        raise ConfigurationMissing(
            f"set {CARD_TOKEN_KEY_VARIABLE} (16+ bytes, e.g. `openssl rand -hex 32`): card tokens "
            "need a secret key of their own wherever a store or a broker is configured"
        )


def kept_card_token_key(data_dir: Path) -> bytes:
    """The embedded default's key: generated on first use, then read back (mode 0600)."""
    return kept_key(data_dir / KEPT_KEY_FILE)
