"""The Shopping Cart's own settings, read with the prefix ``EVENTUALSHOP_SHOPPING_CART_``.

The platform's settings know no context; what only the cart needs lives here and reaches the
domain through ``configure``, which the composition root calls once before the first command.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr

from eventualshop.kernel.environment import EnvironmentConfig, EnvironmentSettings
from eventualshop.shopping_cart.payment_methods import use_card_token_key


class CartSettings(EnvironmentSettings):
    model_config: ClassVar[EnvironmentConfig] = EnvironmentConfig(
        env_prefix="EVENTUALSHOP_SHOPPING_CART_", extra="ignore"
    )

    card_token_key: SecretStr | None = Field(
        None,
        description="HMAC key (16+ bytes) that turns card numbers into tokens; "
        "unset: a development key, never for production",
    )


def configure() -> None:
    key = CartSettings().card_token_key
    if key is not None:
        use_card_token_key(key.get_secret_value().encode())
