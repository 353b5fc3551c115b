"""Value objects shared by several contexts (reference §2.2, §2.3): Address and Product, and
the rules for text every context takes the same way."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)
from pydantic.alias_generators import to_camel

from eventualshop.kernel.validation import field_error

NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]

# One @, no spaces, a dot in the domain: what the original's EmailAddressAttribute-like rule took.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


def _email(value: str) -> str:
    # A validator rather than a pattern constraint: the client is told this, not the regex.
    if not _EMAIL.match(value):
        raise ValueError("must be a valid email address")
    return value


def _whole_number(value: object) -> object:
    # JSON's true is no count: pydantic's lax mode reads it as 1 (a quantity of true added one).
    if isinstance(value, bool):
        raise ValueError("must be a whole number, not true or false")
    return value


#: Refuses JSON's true and false where a client counts (a quantity, a house number). It goes
#: after the number's bounds, ``Annotated[int, Field(ge=1), WholeNumber]``: wrapped around them
#: instead (``Annotated[Annotated[int, WholeNumber], Field(ge=1)]``), pydantic writes the bounds
#: into the API document as its own ``ge``/``le``, which no JSON Schema reader knows.
WholeNumber = BeforeValidator(_whole_number)

EmailAddress = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=254),
    AfterValidator(_email),
    Field(json_schema_extra={"pattern": _EMAIL.pattern}),  # the API document still shows it
]


#: The largest house number a client may give: the original's ``int`` (a 32-bit integer), and
#: what every read-model store keeps as a number (MongoDB refuses integers past 8 bytes).
MAX_HOUSE_NUMBER = 2**31 - 1


class ValueObject(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        populate_by_name=True,
        alias_generator=to_camel,
        # Built on first use, not at import (cold start; see kernel.messages).
        defer_build=True,
    )


class Address(ValueObject):
    """Compared by value, all seven fields."""

    street: NonEmpty
    city: NonEmpty
    state: NonEmpty
    zip_code: NonEmpty
    country: NonEmpty
    number: (
        Annotated[
            int,
            # The most a client may give (below); the document says it, the value object does
            # not check it, so the events stored before that bound still load.
            Field(gt=0, json_schema_extra={"maximum": MAX_HOUSE_NUMBER}),
            WholeNumber,
        ]
        | None
    ) = None
    complement: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)] | None
    ) = None


class Product(ValueObject):
    """How the contexts recognise the same goods: equality of all six fields."""

    description: NonEmpty
    name: NonEmpty
    brand: NonEmpty
    category: NonEmpty
    unit: NonEmpty
    sku: NonEmpty


def _a_house_number(address: Address) -> Address:
    # Checked on what a client sends, not on the value object: events already stored keep
    # whatever number they hold, and still load. A larger one was taken (202), and on MongoDB
    # every projection of those addresses then failed for good.
    if address.number is not None and address.number > MAX_HOUSE_NUMBER:
        said = "Input should be less than or equal to {le}"
        raise field_error(
            "Address", "number", address.number, "less_than_equal", said, le=MAX_HOUSE_NUMBER
        )
    return address


#: An address a client sends (a command's): the value object, its house number bounded.
ClientAddress = Annotated[Address, AfterValidator(_a_house_number)]
