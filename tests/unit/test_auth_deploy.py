"""The signing key reaches only the functions that sign, from a Secret of its own, never as a
literal; every other function can verify but not mint a token."""

from __future__ import annotations

from eventualshop.runtime.deploy.config import DeployConfig
from eventualshop.runtime.deploy.knative import service
from functions.registry import FUNCTIONS

KEY = "EVENTUALSHOP_AUTH_SIGNING_KEY"


def test_only_sign_in_and_refresh_mount_the_signing_key_and_from_its_own_secret() -> None:
    mounting = []
    for spec in FUNCTIONS:
        container = service(spec, DeployConfig())["spec"]["template"]["spec"]["containers"][0]
        for variable in container["env"]:
            if variable["name"] == KEY:
                assert "value" not in variable  # never a literal
                reference = variable["valueFrom"]["secretKeyRef"]
                assert reference == {"name": "eventualshop-auth-signing-key", "key": KEY}
                mounting.append(spec.name)
    assert sorted(mounting) == ["identity-refresh", "identity-sign-in"]
