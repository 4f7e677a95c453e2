"""One root for every livehub exception; errors.py maps them to bodies, statuses and close codes."""

from __future__ import annotations

import pickle

import pytest

from livehub import errors
from livehub.domain.festival import FestivalError
from livehub.domain.sale_rules import BuyCode, BuyRequestError, SaleSpecError
from livehub.domain.schema import ConfigError
from livehub.domain.tokens import AuthError
from livehub.errors import LivehubError, LivehubException
from livehub.protocol.codec import DecodeError
from livehub.protocol.events import EnvelopeError
from livehub.runtime.embedded_redis import EmbeddedRedisError
from livehub.settings import SettingsError
from livehub.store.coupons import CouponSpecError


@pytest.mark.parametrize(
    "cls",
    [LivehubError, FestivalError, ConfigError, SaleSpecError, BuyRequestError, CouponSpecError, AuthError,
     DecodeError, EnvelopeError, SettingsError, EmbeddedRedisError],
)
def test_every_livehub_exception_derives_from_the_one_root(cls: type[BaseException]) -> None:
    assert issubclass(cls, LivehubException)


def test_the_value_errors_stay_value_errors_for_their_callers() -> None:
    for cls in (FestivalError, SaleSpecError, BuyRequestError, CouponSpecError, DecodeError, SettingsError):
        assert issubclass(cls, ValueError)
    assert isinstance(BuyRequestError(BuyCode.BAD_REQUEST, "qty", "x"), LivehubException)


def test_a_festival_error_survives_pickling_with_its_problems() -> None:
    exc = FestivalError("f.toml", [("a", "bad"), ("b", "worse")])
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is FestivalError and back.problems == exc.problems and str(back) == str(exc)


def test_an_error_body_carries_code_message_details_and_the_request_id() -> None:
    exc = errors.bad_request("'n' too big", max=100)
    assert errors.error_body(exc, "r1") == {
        "type": "error", "code": "bad_request", "message": "'n' too big", "details": {"max": 100}, "id": "r1",
    }  # fmt: skip
    assert errors.http_status(exc) == 400


def test_an_unknown_exception_is_an_internal_error_without_its_text() -> None:
    assert errors.error_body(RuntimeError("secret detail")) == {
        "type": "error", "code": "internal", "message": "internal error",
    }  # fmt: skip
    assert errors.http_status(RuntimeError()) == 500


def test_a_storage_failure_is_unavailable_with_503() -> None:
    exc = errors.storage_unavailable()
    assert errors.error_body(exc) == {"type": "error", "code": "unavailable", "message": "storage unavailable: retry"}
    assert errors.http_status(exc) == 503


@pytest.mark.parametrize(("status", "code"), [(404, "not_found"), (405, "bad_request"), (400, "bad_request")])
def test_an_http_exception_keeps_its_detail_as_the_message(status: int, code: str) -> None:
    assert errors.error_body(errors.http_error(status, "Not Found")) == {
        "type": "error", "code": code, "message": "Not Found",
    }  # fmt: skip


def test_an_error_never_echoes_more_than_a_bounded_prefix_of_client_input() -> None:
    huge = "x" * 100_000
    exc = errors.not_found(f"unknown venue {errors.echo(huge)}", field=huge)
    body = errors.error_body(exc)
    assert len(errors.echo(huge)) <= errors.MAX_ECHO_CHARS
    assert len(body["message"]) <= errors.MAX_MESSAGE_CHARS and len(body["details"]["field"]) <= errors.MAX_ECHO_CHARS
    unescaped = errors.bad_request("bad " + huge)  # a message built without echo() is still cut
    assert len(errors.error_body(unescaped)["message"]) <= errors.MAX_MESSAGE_CHARS
    assert errors.echo("b1") == "'b1'"  # short input is quoted whole


def test_rate_limited_carries_retry_after_ms_and_maps_to_429() -> None:
    exc = errors.rate_limited("too many buys: slow down", 0.2501)
    body = errors.error_body(exc, "q1")
    assert (body["code"], body["id"], body["retry_after_ms"], exc.http_status) == ("rate_limited", "q1", 251, 429)
    assert errors.rate_limited("x", float("inf")).retry_after_ms == 3_600_000
    assert errors.rate_limited("x", 0.0).retry_after_ms == 1


def test_the_edge_refusals_have_their_error_codes() -> None:
    assert errors.close_error_code(errors.CLOSE_FORBIDDEN) == errors.FORBIDDEN
    assert errors.close_error_code(errors.CLOSE_TOO_MANY) == errors.RATE_LIMITED
