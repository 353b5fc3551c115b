"""The Warehouse's own settings, read with the prefix ``EVENTUALSHOP_WAREHOUSE_``."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from pydantic import Field, ValidationError, field_validator

from eventualshop.kernel.declaration import ConfigurationMissing, Surroundings
from eventualshop.kernel.environment import EnvironmentConfig, EnvironmentSettings
from eventualshop.kernel.validation import said
from eventualshop.warehouse.commands import RESERVATION_TIME


class WarehouseSettings(EnvironmentSettings):
    model_config: ClassVar[EnvironmentConfig] = EnvironmentConfig(
        env_prefix="EVENTUALSHOP_WAREHOUSE_", extra="ignore"
    )

    reservation_time: timedelta = Field(
        RESERVATION_TIME,
        gt=timedelta(0),
        description="how long a cart holds the stock it reserved unless it checks out (an ISO "
        "8601 duration such as PT15M, or HH:MM:SS); a durable timer releases it then",
    )

    @field_validator("reservation_time", mode="before")
    @classmethod
    def _not_two_numbers(cls, value: object) -> object:
        # pydantic reads "15:00" as fifteen hours; whoever writes it may well mean fifteen
        # minutes (MM:SS), and a hold of the wrong length is not seen until carts lose stock.
        if isinstance(value, str) and value.count(":") == 1:
            # The start's line adds an example: "(e.g. PT15M)".
            raise ValueError(
                f"{value} could be hours or minutes: write HH:MM:SS or an ISO 8601 duration"
            )
        return value


def configure(surroundings: Surroundings) -> None:
    """Refuses to start with a setting that cannot be read (the reservation reaction reads the
    settings for every event, which would otherwise fail event after event)."""
    del surroundings
    try:
        WarehouseSettings()
    except ValidationError as error:
        variable = WarehouseSettings.variable("reservation_time")
        reason = said(error.errors()[0])
        raise ConfigurationMissing(f"{variable}: {reason} (e.g. PT15M)") from None
