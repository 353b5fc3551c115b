"""Settings read from environment variables: a pydantic model whose fields are the variables.

``pydantic-settings`` does this too, but importing it costs a function's cold start about 40 ms
(it loads its dotenv, secrets-directory and cloud-vault sources), and every function reads its
settings before it answers its first request. What we need of it is small: one variable per field,
named by the class's prefix and the field's name (or the field's ``validation_alias``, as
``K_SINK``), compared without regard to case, and the values validated by the model, so a
string in the environment becomes the field's type exactly as pydantic-settings would convert it.
The fields stay the one source of the variables' names and defaults (the deployment generator
and ``eventualshop serve --help`` read them).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from eventualshop.kernel.validation import said


class EnvironmentConfig(ConfigDict, total=False):
    #: Prepended to a field's name to name its variable: ``EVENTUALSHOP_`` + ``DATA_DIR``
    #: (pydantic-settings' key, so readers of ``model_config`` see what they saw before).
    env_prefix: str


class EnvironmentSettings(BaseModel):
    """Subclass it, set ``env_prefix`` in ``model_config`` and declare the settings as fields;
    ``Settings()`` then reads the environment (arguments given win over it)."""

    # A value that fails validation is not repeated in the error: settings hold URLs with
    # passwords and keys, and an error may reach a log (subclasses inherit this).
    model_config: ClassVar[EnvironmentConfig] = EnvironmentConfig(
        extra="ignore", hide_input_in_errors=True
    )

    def __init__(self, **values: Any) -> None:
        super().__init__(**(self.from_environment_values(os.environ) | values))

    @classmethod
    def variable(cls, field: str) -> str:
        """The environment variable of ``field`` (``KeyError`` for a field that is not there)."""
        alias = cls.model_fields[field].validation_alias
        prefix = cls.model_config.get("env_prefix", "")
        return alias if isinstance(alias, str) else f"{prefix}{field}".upper()

    @classmethod
    def problem(cls, error: ValidationError) -> str:
        """The first thing wrong in ``error`` (from validating these settings) in one line: its
        variable, then what is wrong, never the value."""
        first = error.errors(include_input=False, include_url=False)[0]
        if not first["loc"]:  # a check of the whole model names its variable itself
            return said(first)
        name = str(first["loc"][0])
        variable = cls.variable(name) if name in cls.model_fields else name  # else: an alias
        return f"{variable}: {said(first)}"

    @classmethod
    def from_environment_values(cls, environ: Mapping[str, str]) -> dict[str, str]:
        """The values ``environ`` sets, keyed as the model validates them (alias or name)."""
        found = {name.upper(): value for name, value in environ.items()}
        values: dict[str, str] = {}
        for field, info in cls.model_fields.items():
            value = found.get(cls.variable(field))
            if value is not None:
                alias = info.validation_alias
                values[alias if isinstance(alias, str) else field] = value
        return values


def settings_problem(error: ValidationError) -> str | None:
    """``error``'s one line (:meth:`EnvironmentSettings.problem`) when it came from reading
    settings: pydantic titles the error with the model's name. ``None`` for any other model's."""
    pending: list[type[EnvironmentSettings]] = [EnvironmentSettings]
    while pending:
        model = pending.pop()
        if model.__name__ == error.title and model is not EnvironmentSettings:
            return model.problem(error)
        pending += model.__subclasses__()
    return None
