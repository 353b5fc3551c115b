"""The OpenAPI 3.1 document: every declared route in it, valid against the OpenAPI 3.1 schema,
served by the local shop with a documentation page that needs no network."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import schemathesis
from flask.testing import FlaskClient
from pydantic import BaseModel, ValidationError

from eventualshop.kernel.money import ClientMoney
from eventualshop.runtime.local import build_app
from eventualshop.runtime.openapi import DOCS_PAGE, document
from eventualshop.runtime.registry import FunctionKind, FunctionSpec, Route
from eventualshop.runtime.root import Root
from eventualshop.shopping_cart.payment_methods import CardDetails
from functions.main import ROOT
from functions.registry import CONTEXTS, DEFAULT_DELIVERY, FUNCTIONS

#: A card the server takes, but for the field a test changes.
CARD = {"number": "4539 1488 0343 6467", "holderName": "Ada", "securityCode": 123}

# What the local shop serves beside the functions: not API operations.
NOT_OPERATIONS = re.compile(r"^/(|healthz|openapi\.json|docs|functions/.*|static/.*)$")


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FlaskClient]:
    monkeypatch.setenv("EVENTUALSHOP_DATA_DIR", str(tmp_path))
    ROOT.reset()
    yield build_app(ROOT).test_client()
    ROOT.reset()


def test_every_routed_function_is_one_operation_of_the_document() -> None:
    paths = document(ROOT)["paths"]
    routed = [spec for spec in FUNCTIONS if spec.route is not None]
    assert routed
    for spec in routed:
        assert spec.route is not None
        operation = paths[spec.route.path][spec.route.method.lower()]
        assert operation["operationId"] == spec.name
    assert sum(len(methods) for methods in paths.values()) == len(routed)


def _served(client: FlaskClient) -> set[tuple[str, str]]:
    return {
        (re.sub(r"<(\w+)>", r"{\1}", rule.rule), method.lower())
        for rule in client.application.url_map.iter_rules()
        if not NOT_OPERATIONS.match(rule.rule)
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }


def _documented(raw: dict[str, Any]) -> set[tuple[str, str]]:
    return {(path, method) for path, methods in raw["paths"].items() for method in methods}


def test_every_route_the_local_shop_serves_is_in_the_document(client: FlaskClient) -> None:
    raw = client.get("/openapi.json").get_json()
    assert _served(client) == _documented(raw)


def test_a_route_missing_from_the_document_is_caught(client: FlaskClient) -> None:
    """The comparison above can fail: drop one operation and it names that route."""
    raw = document(ROOT)
    del raw["paths"]["/api/v1/shopping-carts/{cartId}/check-out"]
    assert _served(client) - _documented(raw) == {
        ("/api/v1/shopping-carts/{cartId}/check-out", "put")
    }


def test_a_function_no_context_declares_is_documented_as_its_own() -> None:
    extra = FunctionSpec(
        name="shopping-cart-extra",
        kind=FunctionKind.QUERY,
        context="nowhere",
        module="functions.main",
        target="shopping_cart_extra",
        route=Route("GET", "/api/v1/extra/{cartId}"),
    )
    root = Root(CONTEXTS, (*FUNCTIONS, extra), default_delivery=DEFAULT_DELIVERY)
    operation = document(root)["paths"]["/api/v1/extra/{cartId}"]["get"]
    assert operation["operationId"] == "shopping-cart-extra"
    assert operation["responses"] == {"default": {"description": "see the function"}}


def test_the_document_is_valid_openapi_3_1(client: FlaskClient) -> None:
    raw: dict[str, Any] = client.get("/openapi.json").get_json()
    assert raw["openapi"] == "3.1.0"
    schemathesis.openapi.from_dict(raw).validate()


def test_an_invalid_document_is_refused_by_that_validation() -> None:
    raw = document(ROOT)
    raw["paths"]["/api/v1/shopping-carts"]["post"]["responses"] = "none"
    with pytest.raises(Exception, match="responses"):
        schemathesis.openapi.from_dict(raw).validate()


def test_command_bodies_leave_out_what_the_path_and_query_carry() -> None:
    paths = document(ROOT)["paths"]
    change = paths["/api/v1/shopping-carts/{cartId}/items/{itemId}/change-quantity"]["put"]
    assert "requestBody" not in change
    assert [p["name"] for p in change["parameters"] if p["in"] == "query"] == ["quantity"]
    add = paths["/api/v1/shopping-carts/{cartId}/items"]["post"]
    body = add["requestBody"]["content"]["application/json"]["schema"]
    assert "cartId" not in body["properties"]
    assert set(body["required"]) == {"catalogId", "inventoryId", "product", "quantity", "unitPrice"}
    address = paths["/api/v1/shopping-carts/{cartId}/add-shipping-address"]["put"]
    assert address["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Address"
    }


def test_the_docs_page_is_served_and_loads_nothing_from_the_network(client: FlaskClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    assert page.get_data(as_text=True) == DOCS_PAGE
    assert not re.search(r"(src|href)=\"(https?:)?//", DOCS_PAGE)
    assert 'fetch("openapi.json")' in DOCS_PAGE


def test_each_operation_asks_for_a_bearer_token_as_its_route_declares() -> None:
    raw = document(ROOT)
    scheme = raw["components"]["securitySchemes"]["bearer"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    routed = [spec for spec in FUNCTIONS if spec.route is not None]
    for spec in routed:
        assert spec.route is not None
        operation = raw["paths"][spec.route.path][spec.route.method.lower()]
        if spec.access == "anonymous":
            assert "security" not in operation, spec.name
            # Only a 401 of its own (a sign-in's wrong password), never one for a token.
            own = dict(spec.answers.problems) if spec.answers is not None else {}
            assert ("401" in operation["responses"]) == ("401" in own), spec.name
            continue
        assert operation["security"] == [{"bearer": []}], spec.name
        assert operation["x-access"] == spec.access
        assert "WWW-Authenticate" in operation["responses"]["401"]["headers"], spec.name
        assert ("403" in operation["responses"]) == (spec.access in ("owner", "admin")), spec.name
    storefront = raw["paths"]["/api/v1/catalogs/items"]["get"]
    assert "security" not in storefront
    back_office = raw["paths"]["/api/v1/catalogs"]["post"]
    assert back_office["x-access"] == "admin"


def test_every_operation_of_the_shop_says_what_it_answers() -> None:
    """Identity's credential functions are hand-written: their operations said only "see the
    function", with no body, so a reader of /docs could not tell how to sign up."""
    paths = document(ROOT)["paths"]
    vague = [
        f"{method.upper()} {path}"
        for path, methods in paths.items()
        for method, operation in methods.items()
        if "default" in operation["responses"]
    ]
    assert vague == []


@pytest.mark.parametrize(
    ("path", "method", "body", "fields", "answer"),
    [
        ("/sign-up", "post", "SignUp", {"firstName", "email", "passwordConfirmation"}, "202"),
        ("/sign-in", "post", "SignIn", {"email", "password"}, "200"),
        ("/refresh", "post", "RefreshToken", {"refreshToken"}, "200"),
        ("/sign-out", "post", "RefreshToken", {"refreshToken"}, "204"),
        ("/{userId}/change-password", "put", "NewPassword", {"password"}, "202"),
    ],
)
def test_a_credential_route_names_its_body_and_its_answers(
    path: str, method: str, body: str, fields: set[str], answer: str
) -> None:
    found = document(ROOT)
    operation = found["paths"][f"/api/v1/identities{path}"][method]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": f"#/components/schemas/{body}"}
    properties = found["components"]["schemas"][body]["properties"]
    assert fields <= set(properties)
    assert answer in operation["responses"]
    assert "400" in operation["responses"]
    if "password" in properties:  # a secret is said to be one (writeOnly, format password)
        assert properties["password"].get("writeOnly") is True


@pytest.mark.parametrize(
    ("body", "bounds"), [("SignUp", (8, 128)), ("NewPassword", (8, 128)), ("SignIn", (1, 1024))]
)
def test_a_password_s_bounds_are_the_ones_the_server_enforces(
    body: str, bounds: tuple[int, int]
) -> None:
    password = document(ROOT)["components"]["schemas"][body]["properties"]["password"]
    assert (password["minLength"], password["maxLength"]) == bounds


def test_a_sign_in_answers_the_tokens() -> None:
    found = document(ROOT)
    operation = found["paths"]["/api/v1/identities/sign-in"]["post"]
    answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
    tokens = found["components"]["schemas"][answer["$ref"].rsplit("/", 1)[-1]]
    assert {"accessToken", "refreshToken", "expiresIn", "tokenType"} <= set(tokens["properties"])
    assert {"401", "429"} <= set(operation["responses"])


def test_the_jwks_document_is_described_with_its_keys() -> None:
    found = document(ROOT)
    answer = found["paths"]["/.well-known/jwks.json"]["get"]["responses"]["200"]
    schema = answer["content"]["application/json"]["schema"]
    assert found["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]["required"] == ["keys"]


def test_change_email_names_its_query_parameter() -> None:
    operation = document(ROOT)["paths"]["/api/v1/identities/{userId}/change-email"]["put"]
    [email] = [p for p in operation["parameters"] if p["in"] == "query"]
    assert (email["name"], email["required"]) == ("email", True)
    # It reads its body as every command route does (a field in it is a 400).
    assert {"202", "400", "409", "401", "403", "413", "415"} <= set(operation["responses"])
    assert "requestBody" not in operation


@pytest.mark.parametrize(
    ("path", "method"),
    [("/sign-up", "post"), ("/{userId}/change-password", "put"), ("/{userId}/change-email", "put")],
)
def test_the_credential_routes_that_send_a_command_take_an_idempotency_key(
    path: str, method: str
) -> None:
    operation = document(ROOT)["paths"][f"/api/v1/identities{path}"][method]
    assert "Idempotency-Key" in [p["name"] for p in operation["parameters"]]


# pydantic's names for its constraints: in a JSON Schema they are unknown words, so a client
# generated from the document (or a fuzzer) would not see the bound at all.
PYDANTIC_ONLY = {"gt", "ge", "lt", "le", "multiple_of", "max_digits", "decimal_places", "strict"}


def _keywords(node: object, where: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            # Property and parameter names are data here, not keywords.
            if where.endswith("/properties"):
                yield from _keywords(value, f"{where}/{key}")
                continue
            yield where, key
            yield from _keywords(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _keywords(value, f"{where}/{index}")


def test_the_document_states_bounds_in_json_schema_words() -> None:
    raw = document(ROOT)
    unknown = [f"{where}/{key}" for where, key in _keywords(raw) if key in PYDANTIC_ONLY]
    assert unknown == []
    schemas = raw["components"]["schemas"]
    quantity = schemas["AddCartItem"]["properties"]["quantity"]
    assert (quantity["minimum"], quantity["maximum"]) == (1, 65535)
    number = schemas["Address"]["properties"]["number"]["anyOf"][0]
    assert (number["exclusiveMinimum"], number["maximum"]) == (0, 2**31 - 1)


def test_a_cost_is_documented_as_the_text_the_server_takes() -> None:
    """Was: "a number or any string", while "1_000", Arabic-Indic digits and 1.005 are 400."""
    operation = document(ROOT)["paths"]["/api/v1/warehouses/{inventoryId}/items"]["post"]
    [cost] = [p["schema"] for p in operation["parameters"] if p["name"] == "cost"]
    assert cost["type"] == "string"
    assert "2 decimal places" in cost["description"]
    pattern = re.compile(cost["pattern"])
    assert [text for text in ("100.50", "5E+0", "7") if not pattern.search(text)] == []
    assert [text for text in ("1_000", "\u0663", "1,5", "") if pattern.search(text)] == []


def _takes(model: type[BaseModel], value: dict[str, object]) -> bool:
    """Whether the server takes ``value`` as ``model``."""
    try:
        model.model_validate(value)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize(
    ("amount", "taken"),
    [
        (10, True),
        ("10.50", True),
        ("1E+2", True),
        (10.5, False),  # was documented as any number: a float is refused
        (0.25, False),
        ("1_000", False),
        ("\u0663", False),
        (True, False),
        (10**28, False),
    ],
)
def test_a_client_amount_is_documented_as_what_the_server_takes(
    amount: object, taken: bool
) -> None:
    """Was: ``anyOf[number, string]``, while any JSON number with a fraction is a 400 ("not a
    float"). The document and the server agree on each example (of a currency in cents)."""
    schema = document(ROOT)["components"]["schemas"]["ClientMoney"]["properties"]["amount"]
    server = _takes(ClientMoney, {"amount": amount, "currency": "USD"})
    documented = jsonschema.Draft202012Validator(schema).is_valid(amount)
    assert (server, documented) == (taken, taken)


def test_a_client_amount_s_rules_json_schema_cannot_state_are_said_in_words() -> None:
    schema = document(ROOT)["components"]["schemas"]["ClientMoney"]["properties"]["amount"]
    assert "10.0" in schema["description"]  # JSON Schema counts it an integer; it is a float
    assert "2 decimal places" in schema["description"]


@pytest.mark.parametrize(
    ("expiration", "taken"),
    [
        ("31/12/2099", True),  # the original's form, the one the errors name
        ("2099-12-31", True),
        ("2099-12-31T00:00:00", False),  # pydantic's date took these: the document never said
        ("4102358400", False),
        (4102358400, False),
        ("31/12/\u0662\u0660\u0669\u0669", False),  # Arabic-Indic digits, read by strptime
        ("1/2/2099", False),
    ],
)
def test_a_card_s_expiration_date_is_documented_in_both_forms_the_server_takes(
    expiration: object, taken: bool
) -> None:
    """Was: ``format: date`` (ISO only), while dd/MM/yyyy is the form the API and its errors
    use; the document and the server now agree on each example."""
    found = document(ROOT)["components"]["schemas"]["CardDetails"]["properties"]["expirationDate"]
    server = _takes(CardDetails, {**CARD, "expirationDate": expiration})
    documented = jsonschema.Draft202012Validator(found).is_valid(expiration)
    assert (server, documented) == (taken, taken)


def test_a_card_s_expiration_date_says_its_forms_in_words() -> None:
    found = document(ROOT)["components"]["schemas"]["CardDetails"]["properties"]["expirationDate"]
    assert "format" not in found  # a date's format is ISO's only
    assert "dd/MM/yyyy" in found["description"]
    assert "yyyy-MM-dd" in found["description"]
