"""The exact requests the token endpoint receives and the exact pairs and errors its answers
make (mutation testing, issue 10)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from tests.auth.fakes import BASE, T0, settings
from worker.errors import BadResponse, ServerError, TransportError
from worker.kseries.tokens import TOKEN_TIMEOUT, TokenEndpoint, TokenPair, TokenRefused

Handler = Callable[[httpx.Request], httpx.Response]
RealClient = httpx.Client
DAY = timedelta(days=1)


class Endpoint:
    """A token endpoint that answers `answer` and keeps every request it got."""

    def __init__(self, answer: httpx.Response | None = None) -> None:
        self.answer = answer or httpx.Response(200, json={"access_token": "acc"})
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answer

    def form(self, index: int = -1) -> dict[str, str]:
        body = self.requests[index].content.decode()
        return {key: values[0] for key, values in parse_qs(body).items()}


def _endpoint(handler: Handler, **overrides: Any) -> TokenEndpoint:
    http = httpx.Client(transport=httpx.MockTransport(handler))
    return TokenEndpoint(settings(**overrides), http)


def _refresh_answer(status: int, **body: Any) -> TokenPair:
    return _endpoint(Endpoint(httpx.Response(status, json=body))).refresh("old", T0)


# --- requests ---------------------------------------------------------------------------------


def test_a_refresh_posts_the_grant_with_basic_client_credentials_asking_for_json() -> None:
    kseries = Endpoint()
    _endpoint(kseries).refresh("the-refresh", T0)
    request = kseries.requests[0]
    assert (request.method, str(request.url)) == ("POST", f"{BASE}/oauth/token")
    assert kseries.form() == {"grant_type": "refresh_token", "refresh_token": "the-refresh"}
    assert request.headers["accept"] == "application/json"
    expected = httpx.BasicAuth("orderflow-client", "client-secret")
    assert request.headers["authorization"] == expected._auth_header


def test_a_public_client_names_itself_in_the_form_and_sends_no_authorization() -> None:
    kseries = Endpoint()
    _endpoint(kseries, kseries_client_secret=None).redeem("the-code", "http://cb", T0)
    assert kseries.form() == {
        "grant_type": "authorization_code",
        "code": "the-code",
        "redirect_uri": "http://cb",
        "client_id": "orderflow-client",
    }
    assert "authorization" not in kseries.requests[0].headers


def test_a_secret_without_a_client_id_sends_neither() -> None:
    kseries = Endpoint()
    _endpoint(kseries, kseries_client_id=None).refresh("r", T0)
    assert kseries.form() == {"grant_type": "refresh_token", "refresh_token": "r"}
    assert "authorization" not in kseries.requests[0].headers


class _Clients:
    """Stands in for `httpx.Client` where the endpoint makes its own short-lived clients."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.timeouts: list[Any] = []

    def __call__(self, **kwargs: Any) -> httpx.Client:
        self.timeouts.append(kwargs.get("timeout"))
        return RealClient(transport=httpx.MockTransport(self.handler), **kwargs)


def test_without_a_client_each_exchange_uses_its_own_with_the_token_timeouts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kseries = Endpoint(httpx.Response(200, json={"access_token": "acc", "expires_in": 60}))
    clients = _Clients(kseries)
    monkeypatch.setattr(httpx, "Client", clients)
    pair = TokenEndpoint(settings()).refresh("r", T0)
    assert pair == TokenPair("acc", "r", T0 + timedelta(seconds=60), T0)
    assert kseries.form() == {"grant_type": "refresh_token", "refresh_token": "r"}
    assert clients.timeouts == [TOKEN_TIMEOUT]
    assert (TOKEN_TIMEOUT.connect, TOKEN_TIMEOUT.read) == (3.0, 5.0)


def test_the_businesses_of_a_new_pair_are_read_on_its_access_token_from_the_base_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kseries = Endpoint(httpx.Response(200, json=[{"id": 7, "businessLocations": [{"id": 70}]}]))
    listed = _endpoint(kseries, kseries_base_url=BASE + "/").businesses("the-access")
    assert [(b.id, [loc.id for loc in b.businessLocations]) for b in listed] == [(7, [70])]
    # a base URL whose path ends in "X": only the trailing slash goes
    _endpoint(kseries, kseries_base_url=BASE + "/K-X/").businesses("the-access")
    clients = _Clients(kseries)
    monkeypatch.setattr(httpx, "Client", clients)
    listed = TokenEndpoint(settings(kseries_base_url=BASE + "/")).businesses("the-access")
    assert [b.id for b in listed] == [7]
    assert clients.timeouts == [TOKEN_TIMEOUT]
    assert [(r.method, str(r.url)) for r in kseries.requests] == [
        ("GET", f"{BASE}/o/op/data/businesses"),
        ("GET", f"{BASE}/K-X/o/op/data/businesses"),
        ("GET", f"{BASE}/o/op/data/businesses"),
    ]
    assert {r.headers["authorization"] for r in kseries.requests} == {"Bearer the-access"}


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (httpx.ConnectError, "token endpoint: ConnectError (not sent)"),
        (httpx.ConnectTimeout, "token endpoint: ConnectTimeout (not sent)"),
        (httpx.PoolTimeout, "token endpoint: PoolTimeout (not sent)"),
        (httpx.ReadTimeout, "token endpoint: ReadTimeout"),
        (httpx.RemoteProtocolError, "token endpoint: RemoteProtocolError"),
    ],
)
def test_no_answer_is_a_transport_error_saying_whether_the_request_may_have_been_sent(
    error: type[httpx.TransportError], message: str
) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise error("boom", request=request)

    with pytest.raises(TransportError) as raised:
        _endpoint(fail).refresh("r", T0)
    assert str(raised.value) == message
    assert raised.value.endpoint == "token"


# --- answers ----------------------------------------------------------------------------------


def test_a_refusal_names_its_oauth_error_its_status_and_the_token_endpoint() -> None:
    with pytest.raises(TokenRefused) as raised:
        _refresh_answer(400, error="invalid_grant")
    assert (raised.value.status, raised.value.error) == (400, "invalid_grant")
    assert (raised.value.endpoint, str(raised.value)) == (
        "token",
        "token answered 400: invalid_grant",
    )
    refused = TokenRefused(401, "invalid_client")
    assert (refused.status, refused.endpoint, refused.error) == (401, "token", "invalid_client")


def test_a_refusal_without_a_json_body_is_named_by_its_status() -> None:
    kseries = Endpoint(httpx.Response(499, text="<html>no</html>"))
    with pytest.raises(TokenRefused) as raised:
        _endpoint(kseries).refresh("r", T0)
    assert (raised.value.status, raised.value.error) == (499, "HTTP 499")


@pytest.mark.parametrize("status", [500, 503])
def test_a_5xx_is_a_server_error_of_the_token_endpoint(status: int) -> None:
    with pytest.raises(ServerError) as raised:
        _refresh_answer(status, error="invalid_grant")
    assert (raised.value.status, raised.value.endpoint) == (status, "token")
    assert str(raised.value) == f"token answered {status}"


@pytest.mark.parametrize("body", [{}, {"access_token": 5}, ["acc"], None])
def test_a_success_without_an_access_token_is_a_bad_response_that_shows_no_body(
    body: Any,
) -> None:
    answer = httpx.Response(200, json=body) if body is not None else httpx.Response(200)
    with pytest.raises(BadResponse) as raised:
        _endpoint(Endpoint(answer)).refresh("r", T0)
    assert (raised.value.status, raised.value.endpoint) == (200, "token")
    assert str(raised.value) == "token answered 200: no_access_token"


def test_a_new_refresh_token_lives_as_announced_or_fourteen_days() -> None:
    pair = _refresh_answer(
        200, access_token="a", refresh_token="new", expires_in=600, refresh_expires_in=86_400
    )
    assert pair == TokenPair("a", "new", T0 + timedelta(seconds=600), T0, T0 + DAY)
    pair = _refresh_answer(200, access_token="a", refresh_token="new", expires_in="600")
    assert pair == TokenPair("a", "new", T0 + timedelta(seconds=600), T0, T0 + 14 * DAY)


def test_an_answer_without_a_new_refresh_token_keeps_the_old_one_of_unknown_expiry() -> None:
    pair = _refresh_answer(200, access_token="a", expires_in=600)
    assert pair == TokenPair("a", "old", T0 + timedelta(seconds=600), T0, None)
    assert pair.refresh_expires_at is None


@pytest.mark.parametrize(
    ("expires_in", "lifetime"),
    [
        (0.5, timedelta(seconds=0.5)),
        (366 * 24 * 3600, 366 * DAY),
        ("90.5", timedelta(seconds=90.5)),
        (0, timedelta(minutes=60)),
        (-5, timedelta(minutes=60)),
        (366 * 24 * 3600 + 1, timedelta(minutes=60)),
        (True, timedelta(minutes=60)),
        ("soon", timedelta(minutes=60)),
        ([60], timedelta(minutes=60)),
        (None, timedelta(minutes=60)),
    ],
)
def test_a_lifetime_is_taken_when_positive_and_at_most_a_year_else_sixty_minutes(
    expires_in: Any, lifetime: timedelta
) -> None:
    pair = _refresh_answer(200, access_token="a", expires_in=expires_in)
    assert pair.expires_at == T0 + lifetime
