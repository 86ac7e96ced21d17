"""A login per restaurant business (issue 14, items 1, 4 and 5): each stored under the business
K-Series names, with its locations; the same business again replaces its pair; status lists
every business without a token; logout forgets one."""

from __future__ import annotations

import fakeredis
import pytest
from click.testing import CliRunner

from tests.auth.business_fakes import (
    PIZZA,
    PIZZA_BL,
    PIZZA_BL_2,
    SUSHI,
    SUSHI_BL,
    BusinessKSeries,
)
from tests.auth.fakes import Clock, endpoint, new_store, settings
from worker import auth_cli
from worker.kseries.logins import Logins
from worker.kseries.tokens import TokenStore
from worker.oauth import LoginError, log_in


@pytest.fixture
def kseries(clock: Clock) -> BusinessKSeries:
    return BusinessKSeries(clock, ttl_s=300)


def _logins(server: fakeredis.FakeServer) -> Logins:
    return Logins(fakeredis.FakeRedis(server=server, decode_responses=True))


def _log_in(kseries: BusinessKSeries, server: fakeredis.FakeServer, business: int) -> None:
    code = kseries.code(business)
    log_in(settings(), new_store(server), code, endpoint=endpoint(kseries), now=kseries.clock())


def test_two_businesses_log_in_side_by_side_each_pair_under_its_business_with_its_locations(
    kseries: BusinessKSeries, server: fakeredis.FakeServer
) -> None:
    # When Pizza One and then Sushi Two log in
    _log_in(kseries, server, PIZZA)
    _log_in(kseries, server, SUSHI)

    # Then each pair is stored under its business, and each location is covered by its owner
    logins = _logins(server)
    assert [(x.business_id, x.name, sorted(x.locations)) for x in logins.all()] == [
        (PIZZA, "Pizza One", [PIZZA_BL, PIZZA_BL_2]),
        (SUSHI, "Sushi Two", [SUSHI_BL]),
    ]
    pizza, sushi = logins.store(PIZZA).get(), logins.store(SUSHI).get()
    assert pizza is not None and sushi is not None
    assert kseries.bound[pizza.access] == PIZZA and kseries.bound[sushi.access] == SUSHI
    assert [logins.covering(bl).business_id for bl in (PIZZA_BL, PIZZA_BL_2, SUSHI_BL)] == [  # type: ignore[union-attr]
        PIZZA,
        PIZZA,
        SUSHI,
    ]
    # And nothing covers a location neither lists, nor is there a default pair
    assert not logins.covers(99)
    assert TokenStore(fakeredis.FakeRedis(server=server, decode_responses=True)).get() is None


def test_a_new_login_for_the_same_business_replaces_its_pair_and_leaves_the_other_alone(
    kseries: BusinessKSeries, server: fakeredis.FakeServer
) -> None:
    _log_in(kseries, server, PIZZA)
    _log_in(kseries, server, SUSHI)
    logins = _logins(server)
    first_pizza, sushi = logins.store(PIZZA).get(), logins.store(SUSHI).get()
    # Given Pizza One gave up location 12 meanwhile
    kseries.businesses[PIZZA] = ("Pizza One", [PIZZA_BL])

    # When Pizza One logs in again
    _log_in(kseries, server, PIZZA)

    # Then its new pair replaced the old one, its locations are the new list, Sushi is untouched
    again = logins.store(PIZZA).get()
    assert again is not None and first_pizza is not None and not again.same_grant(first_pizza)
    assert logins.store(SUSHI).get() == sushi
    assert [sorted(x.locations) for x in logins.all()] == [[PIZZA_BL], [SUSHI_BL]]
    assert not logins.covers(PIZZA_BL_2)


def test_a_login_k_series_names_no_business_for_becomes_the_default_pair_as_before(
    kseries: BusinessKSeries, server: fakeredis.FakeServer
) -> None:
    # Given a K-Series without the business list (404)
    kseries.list_status = 404
    # When someone logs in
    _log_in(kseries, server, PIZZA)
    # Then the pair is the default pair, covering every location, as before businesses existed
    logins = _logins(server)
    assert logins.all() == []
    assert new_store(server).get() is not None
    assert logins.covers(PIZZA_BL) and logins.covers(99)


@pytest.mark.parametrize(("status", "reads"), [(503, 3), (403, 1)], ids=["unavailable", "refused"])
def test_a_login_whose_business_list_cannot_be_read_fails_and_stores_nothing(
    kseries: BusinessKSeries, server: fakeredis.FakeServer, status: int, reads: int
) -> None:
    kseries.list_status = status
    code = kseries.code(PIZZA)
    with pytest.raises(LoginError, match="log in again"):
        log_in(
            settings(), new_store(server), code, endpoint=endpoint(kseries), sleep=lambda s: None
        )
    assert kseries.list_calls == reads  # a 5xx is tried again, a refusal is not
    assert _logins(server).all() == []
    assert new_store(server).get() is None


def test_a_login_whose_business_list_fails_once_is_stored_after_the_second_read(
    kseries: BusinessKSeries, server: fakeredis.FakeServer
) -> None:
    original = kseries._list
    answers = iter([503])

    def flaky(business: int | None):  # type: ignore[no-untyped-def]
        status = next(answers, None)
        kseries.list_status = status
        return original(business)

    kseries._list = flaky  # type: ignore[method-assign]
    waits: list[float] = []
    code = kseries.code(SUSHI)
    log_in(settings(), new_store(server), code, endpoint=endpoint(kseries), sleep=waits.append)
    assert waits == [1.0]
    assert [x.business_id for x in _logins(server).all()] == [SUSHI]


def test_a_login_for_a_token_that_lists_no_business_fails_and_stores_nothing(
    kseries: BusinessKSeries, server: fakeredis.FakeServer
) -> None:
    kseries.businesses.clear()
    with pytest.raises(LoginError, match="no business"):
        _log_in(kseries, server, PIZZA)
    assert _logins(server).all() == [] and new_store(server).get() is None


# --- the CLI ------------------------------------------------------------------------------------


@pytest.fixture
def cli(
    kseries: BusinessKSeries, server: fakeredis.FakeServer, monkeypatch: pytest.MonkeyPatch
) -> CliRunner:
    monkeypatch.setattr(auth_cli, "get_settings", settings)
    monkeypatch.setattr(auth_cli, "_store", lambda _: new_store(server))
    monkeypatch.setattr(auth_cli, "_endpoint", lambda cfg: endpoint(kseries, cfg))
    return CliRunner()


def test_status_lists_every_business_with_its_locations_and_expiry_and_never_a_token(
    cli: CliRunner, kseries: BusinessKSeries, server: fakeredis.FakeServer
) -> None:
    # Given two businesses logged in with `orderflow auth login --code`
    logins = [cli.invoke(auth_cli.auth, ["login", "--code", kseries.code(b)]) for b in (101, 202)]
    assert [x.exit_code for x in logins] == [0, 0], [x.output for x in logins]
    assert "Logged in business 101 (Pizza One): locations 11, 12" in logins[0].output
    # And Sushi Two's refresh token refused since
    sushi = _logins(server).store(SUSHI)
    pair = sushi.get()
    assert pair is not None and pair.refresh
    sushi.mark_refused(pair.refresh)

    # When an operator asks for the status
    shown = cli.invoke(auth_cli.auth, ["status"])

    # Then both businesses are listed, with locations, expiry, and which is refused
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert "business 101 (Pizza One): locations 11, 12" in lines
    assert "business 202 (Sushi Two): locations 21" in lines
    assert sum("access token expires" in line for line in lines) == 2
    refused = [i for i, line in enumerate(lines) if "REFUSED" in line]
    assert len(refused) == 1 and refused[0] > lines.index("business 202 (Sushi Two): locations 21")
    # And no token or client secret is printed anywhere
    stored = [_logins(server).store(b).get() for b in (PIZZA, SUSHI)]
    secrets = [t for p in stored if p for t in (p.access, p.refresh) if t]
    for output in (shown.output, *(x.output for x in logins)):
        assert not [s for s in secrets if s in output]
        assert "client-secret" not in output


def test_logout_forgets_one_business_and_its_locations_only(
    cli: CliRunner, kseries: BusinessKSeries, server: fakeredis.FakeServer
) -> None:
    for business in (PIZZA, SUSHI):
        assert cli.invoke(auth_cli.auth, ["login", "--code", kseries.code(business)]).exit_code == 0

    result = cli.invoke(auth_cli.auth, ["logout", "101"])

    assert result.exit_code == 0, result.output
    logins = _logins(server)
    assert [x.business_id for x in logins.all()] == [SUSHI]
    assert logins.store(PIZZA).get() is None
    assert not logins.covers(PIZZA_BL) and logins.covers(SUSHI_BL)
    assert "business 101" not in cli.invoke(auth_cli.auth, ["status"]).output
    # A business nobody logged in, or a word, is refused
    assert cli.invoke(auth_cli.auth, ["logout", "101"]).exit_code == 1
    assert "not a business id" in cli.invoke(auth_cli.auth, ["logout", "pizza"]).output
