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

import errno
import os
import secrets
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from eventualshop.kernel.validation import said

#: ``<VARIABLE>_FILE`` names a file that holds the variable's value (OpenFaaS, Docker and
#: Kubernetes volumes hand over secrets that way).
FILE_SUFFIX = "_FILE"


def is_set(environ: Mapping[str, str], variable: str) -> bool:
    """Whether ``variable`` is given, as itself or as the file its ``_FILE`` variable names."""
    return bool(environ.get(variable) or environ.get(variable + FILE_SUFFIX))


def given(environ: Mapping[str, str], variable: str) -> str | UnreadableFile | None:
    """A variable no settings model holds (a command's own, such as the admin's password), read
    as the settings' are: itself, else the content of the file ``<VARIABLE>_FILE`` names (how
    OpenFaaS, Docker and Kubernetes volumes hand over a secret); ``None`` when neither is set."""
    value = environ.get(variable)
    if value:
        return value
    path = environ.get(variable + FILE_SUFFIX)
    return read_setting_file(variable + FILE_SUFFIX, path) if path else None


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

    #: Per field that takes one of a few words (a ``Literal`` of strings): each word by its
    #: lower case. Filled when a subclass is made (:meth:`__pydantic_init_subclass__`).
    _words: ClassVar[dict[str, dict[str, str]]] = {}

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls._words = {}
        for field, info in cls.model_fields.items():
            choices = get_args(info.annotation) if get_origin(info.annotation) is Literal else ()
            if choices and all(isinstance(choice, str) for choice in choices):
                alias = info.validation_alias
                key = alias if isinstance(alias, str) else field
                cls._words[key] = {choice.lower(): choice for choice in choices}

    @model_validator(mode="before")
    @classmethod
    def _words_in_any_case(cls, values: Any) -> Any:
        # A word is taken in any case, as the variables' names are and as a boolean is
        # (EVENTUALSHOP_AUTO_MIGRATE=False): EVENTUALSHOP_AUTH=OFF was refused, although the
        # functions' readiness read it as off, while EVENTUALSHOP_BROKER=RabbitMQ was taken.
        if not isinstance(values, dict) or not cls._words:
            return values
        given = dict(values)
        for key, words in cls._words.items():
            value = given.get(key)
            if isinstance(value, str) and value.lower() in words:
                given[key] = words[value.lower()]
        return given

    def __init__(self, **values: Any) -> None:
        found = self.from_environment_values(os.environ) | values
        for value in found.values():
            if isinstance(value, UnreadableFile):
                raise value.error(type(self).__name__)
        super().__init__(**found)

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
        variable = cls.variable(name) if name in cls.model_fields else name  # an alias, a _FILE
        return f"{variable}: {said(first)}"

    @classmethod
    def from_environment_values(cls, environ: Mapping[str, str]) -> dict[str, str | UnreadableFile]:
        """The values ``environ`` sets, keyed as the model validates them (alias or name).

        A variable that is not set may come from the file ``<VARIABLE>_FILE`` names, its content
        without the line break that ends it: how OpenFaaS (and Docker, and Kubernetes volumes)
        hand over a secret, so a password in a URL need not be in the pod's environment. The
        variable itself wins where both are set; a field whose ``_FILE`` variable is a field of
        its own (the signing key's) is left to that field. A file that cannot be read is an
        :class:`UnreadableFile` in its field's place: the setting is there, and the settings
        refuse it (a readiness check that only asks which settings are set does not fail)."""
        found = {name.upper(): value for name, value in environ.items()}
        variables = {cls.variable(field) for field in cls.model_fields}
        values: dict[str, str | UnreadableFile] = {}
        for field, info in cls.model_fields.items():
            variable = cls.variable(field)
            value: str | UnreadableFile | None = found.get(variable)
            file_variable = variable + FILE_SUFFIX
            if value is None and file_variable not in variables:
                path = found.get(file_variable)
                value = read_setting_file(file_variable, path) if path else None
            if value is not None:
                alias = info.validation_alias
                values[alias if isinstance(alias, str) else field] = value
        return values


@dataclass(frozen=True, slots=True)
class UnreadableFile:
    """A setting's file that could not be read: where and why, never any content."""

    variable: str
    path: str
    reason: str

    def said(self) -> str:
        """The one line a command prints for it (never the file's content)."""
        return f"{self.variable}: cannot read {self.path}: {self.reason}"

    def error(self, model: str) -> ValidationError:
        """The settings' error naming the variable and the path: one line where a setting out
        of range would be one."""
        return ValidationError.from_exception_data(
            model,
            [
                InitErrorDetails(
                    type=PydanticCustomError(
                        "secret_file",
                        "cannot read {path}: {reason}",
                        {"path": self.path, "reason": self.reason},
                    ),
                    loc=(self.variable,),
                    input=self.path,
                )
            ],
        )


def read_setting_file(variable: str, path: str) -> str | UnreadableFile:
    """The content of the file ``variable`` names, without the line break that ends it."""
    try:
        with open(path, encoding="utf-8") as file:
            return file.read().rstrip("\r\n")
    except OSError as error:
        return UnreadableFile(variable, path, error.strerror or type(error).__name__)
    except UnicodeDecodeError:
        return UnreadableFile(variable, path, "not UTF-8 text")


def random_key() -> bytes:
    """A fresh secret key: 32 random bytes in hex (64 ASCII characters, usable in a header)."""
    return secrets.token_hex(32).encode()


def private_folder(path: Path) -> None:
    """Make ``path``, the folder of an embedded store or a kept key, if it is missing: readable
    by its owner only (0700), as what goes in it is a password's hash, a refresh token's digest
    or a key. A folder that is there keeps the mode its owner gave it."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


def kept_key(path: Path, make: Callable[[], bytes] = random_key) -> bytes:
    """A secret the embedded default keeps for itself in ``path``: made with ``make`` on first
    use, then read back, readable by its owner only (mode 0600). Never one written in the
    source: each data folder gets its own, and a restart finds the same one.

    The key is written whole under another name, then linked into place, which fails if the
    file is there: of two processes starting at once, one key wins and both use it, and a
    reader finds no file or a complete one. Created empty first (O_EXCL), a key could be read
    in part while it was written, and a crash between the two left an empty file."""
    try:
        return _written_key(path)
    except FileNotFoundError:
        pass
    private_folder(path.parent)
    descriptor, written = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # 0600
    try:
        with os.fdopen(descriptor, "wb") as file:
            key = make()
            file.write(key)
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(written, path)
        except FileExistsError:
            return _written_key(path)  # another process's came first
        return key
    finally:
        os.unlink(written)


def _written_key(path: Path) -> bytes:
    key = path.read_bytes().strip()
    if not key:  # one an empty ``Authorization`` would have matched
        raise OSError(errno.ENODATA, "holds no key (delete it and a new one is made)", str(path))
    return key


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
