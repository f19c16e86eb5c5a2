"""Retrying a submission with an Idempotency-Key: per API key, for a day, and safe when a worker
dies mid-request or two retries race (CONTRACT §2). On SQLite and on PostgreSQL."""
from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import func, select

from bcapi.document import dumps
from bcapi.http.app import create_app
from bcapi.services import idempotency
from bcapi.services.errors import IdempotencyConflict
from bcapi.services.principal import hash_key
from bcapi.storage.models import ApiKey, BusinessCase, IdempotencyRecord, utcnow

from .factories import ApiClient, body, make_document, new_key

PROBLEM = "application/problem+json"


def count(app, model) -> int:
    with app.extensions["bcapi"].db.reading() as session:
        return session.scalar(select(func.count()).select_from(model))


def key_id(app, key: str) -> str:
    with app.extensions["bcapi"].db.reading() as session:
        return session.scalar(select(ApiKey.id).where(ApiKey.key_hash == hash_key(key)))


def age_records(app, *, by: dt.timedelta) -> None:
    """Make every stored Idempotency-Key `by` older, as if that much time had passed."""
    with app.extensions["bcapi"].db.writing() as session:
        for record in session.scalars(select(IdempotencyRecord)):
            record.created_at = record.created_at - by


def claim_in_flight(app, *, api_key: str, key: str, document, age: dt.timedelta = dt.timedelta(0)) -> None:
    """A claim as a worker leaves it while it works (or after it crashed), `age` ago."""
    with app.extensions["bcapi"].db.writing() as session:
        session.add(IdempotencyRecord(api_key_id=key_id(app, api_key), key=key,
                                      request_digest=idempotency.request_digest(document),
                                      state="in_flight", created_at=utcnow() - age))


def assert_problem(response, status: int, slug: str) -> dict:
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith(PROBLEM)
    problem = body(response)
    assert problem["status"] == status and problem["type"].endswith(f"/problems/{slug}")
    return problem


@pytest.fixture
def short_ttl_api(app_env):
    """The service with Idempotency-Keys kept for 10 minutes."""
    app = create_app({**app_env, "BCAPI_IDEMPOTENCY_TTL_SECONDS": "600"})
    app.config["TESTING"] = True
    yield ApiClient(app)
    app.extensions["bcapi"].db.dispose()


# --- one key string, two API keys ----------------------------------------------------------

def test_two_api_keys_using_the_same_key_string_each_get_their_own_case(api, app):
    """Idempotency-Keys are the client's own: another tool choosing the same string neither
    receives the first tool's case nor is refused for sending another body."""
    ours = api.submit(make_document(title="Our case"), headers={"Idempotency-Key": "order-1"})
    theirs = api.submit(make_document(title="Their case"), as_="admin", headers={"Idempotency-Key": "order-1"})
    assert ours.status_code == theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs.headers
    assert body(theirs)["id"] != body(ours)["id"] and body(theirs)["title"] == "Their case"
    assert count(app, BusinessCase) == 2
    # Each one's retry replays its own case.
    again = api.submit(make_document(title="Their case"), as_="admin", headers={"Idempotency-Key": "order-1"})
    assert body(again)["id"] == body(theirs)["id"] and again.headers["Idempotent-Replayed"] == "true"
    again = api.submit(make_document(title="Our case"), headers={"Idempotency-Key": "order-1"})
    assert body(again)["id"] == body(ours)["id"]
    assert count(app, BusinessCase) == 2


def test_another_keys_request_in_flight_does_not_hold_ours(api, app):
    claim_in_flight(app, api_key=api.key("admin"), key="order-2", document=make_document())
    response = api.submit(make_document(), headers={"Idempotency-Key": "order-2"})
    assert response.status_code == 201


def test_a_failed_request_never_releases_another_keys_claim(api, app):
    """The admin's request with "order-3" is still running when ours, with the same string, is
    refused (403): the admin's claim stays, so its retry still waits rather than running twice."""
    document = make_document(consortium="SOTON-C")
    claim_in_flight(app, api_key=api.key("admin"), key="order-3", document=document)
    refused = api.submit(document, headers={"Idempotency-Key": "order-3"})  # EAS may not submit for SOTON-C
    assert_problem(refused, 403, "forbidden")
    assert count(app, IdempotencyRecord) == 1
    assert_problem(api.submit(document, as_="admin", headers={"Idempotency-Key": "order-3"}), 409, "conflict")


def test_a_failed_request_releases_its_own_claim_so_a_corrected_retry_runs(api, app):
    refused = api.submit(make_document(consortium="SOTON-C"), headers={"Idempotency-Key": "order-4"})
    assert refused.status_code == 403 and count(app, IdempotencyRecord) == 0
    retried = api.submit(make_document(), headers={"Idempotency-Key": "order-4"})
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried.headers


# --- a key's lifetime ----------------------------------------------------------------------

def test_within_its_time_to_live_a_key_replays_the_first_answer(short_ttl_api):
    api = short_ttl_api
    first = api.submit(make_document(), headers={"Idempotency-Key": "day-1"})
    age_records(api.app, by=dt.timedelta(minutes=9))
    retry = api.submit(make_document(), headers={"Idempotency-Key": "day-1"})
    assert retry.status_code == 201 and retry.headers["Idempotent-Replayed"] == "true"
    assert body(retry)["id"] == body(first)["id"]
    assert count(api.app, BusinessCase) == 1
    other_body = api.submit(make_document(title="Something else"), headers={"Idempotency-Key": "day-1"})
    assert_problem(other_body, 422, "idempotency-key-reused")


def test_past_its_time_to_live_a_key_may_be_used_afresh(short_ttl_api):
    """The key was kept 10 minutes; 11 minutes on, the same string starts a new case, whatever
    the body."""
    api = short_ttl_api
    first = api.submit(make_document(), headers={"Idempotency-Key": "day-2"})
    age_records(api.app, by=dt.timedelta(minutes=11))
    again = api.submit(make_document(title="A new case"), headers={"Idempotency-Key": "day-2"})
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    assert body(again)["id"] != body(first)["id"] and body(again)["title"] == "A new case"
    assert count(api.app, BusinessCase) == 2
    # The new answer is the one kept now.
    replay = api.submit(make_document(title="A new case"), headers={"Idempotency-Key": "day-2"})
    assert body(replay)["id"] == body(again)["id"]


def test_a_completed_key_is_never_taken_over_however_long_ago_it_finished(api, app):
    """Only an unfinished claim goes stale (after a minute); a finished one is kept for the whole
    time to live (a day by default), so a retry an hour later is not a duplicate case."""
    first = api.submit(make_document(), headers={"Idempotency-Key": "hour-1"})
    age_records(app, by=dt.timedelta(hours=1))
    retry = api.submit(make_document(), headers={"Idempotency-Key": "hour-1"})
    assert retry.status_code == 201 and retry.headers["Idempotent-Replayed"] == "true"
    assert body(retry)["id"] == body(first)["id"]
    assert count(app, BusinessCase) == 1


# --- a worker that died, a retry that races -------------------------------------------------

def test_a_claim_left_by_a_crashed_worker_is_taken_over_after_a_minute(api, app):
    document = make_document()
    claim_in_flight(app, api_key=api.key("EAS"), key="crash-1", document=document, age=dt.timedelta(seconds=90))
    response = api.submit(document, headers={"Idempotency-Key": "crash-1"})
    assert response.status_code == 201 and "Idempotent-Replayed" not in response.headers
    assert count(app, BusinessCase) == 1 and count(app, IdempotencyRecord) == 1
    replay = api.submit(document, headers={"Idempotency-Key": "crash-1"})
    assert body(replay)["id"] == body(response)["id"] and replay.headers["Idempotent-Replayed"] == "true"


def test_a_claim_still_within_its_minute_is_left_alone(api, app):
    document = make_document()
    claim_in_flight(app, api_key=api.key("EAS"), key="busy-1", document=document, age=dt.timedelta(seconds=30))
    problem = assert_problem(api.submit(document, headers={"Idempotency-Key": "busy-1"}), 409, "conflict")
    assert "still being processed" in problem["detail"]
    other = api.submit(make_document(title="Another body"), headers={"Idempotency-Key": "busy-1"})
    assert_problem(other, 422, "idempotency-key-reused")
    assert count(app, BusinessCase) == 0


def test_two_first_claims_racing_leave_exactly_one_claim(app):
    """The first claim is written but not yet committed when the second looks: on PostgreSQL the
    second's insert waits on the first's row and then fails on the unique key, on SQLite it
    waits for the write lock; either way it must then see the first's claim, not a 500 or a
    second claim."""
    db = app.extensions["bcapi"].db
    key = new_key(app, role="commissioner", consortium="EAS")
    api_key_id, digest, ttl = key_id(app, key), idempotency.request_digest(make_document()), dt.timedelta(days=1)
    outcome: list[object] = []

    def second_request():
        try:
            outcome.append(idempotency.claim(db, api_key_id=api_key_id, key="race-1", digest=digest, ttl=ttl))
        except BaseException as exc:  # noqa: BLE001 - checked below
            outcome.append(exc)

    with db.writing() as session:
        session.add(IdempotencyRecord(api_key_id=api_key_id, key="race-1", request_digest=digest,
                                      state="in_flight", created_at=utcnow()))
        session.flush()
        other = threading.Thread(target=second_request)
        other.start()
        other.join(0.5)  # it now waits on our uncommitted row (PostgreSQL) or our write lock (SQLite)
    other.join(30)
    assert not other.is_alive()
    [result] = outcome
    assert isinstance(result, IdempotencyConflict), result
    assert count(app, IdempotencyRecord) == 1


def test_two_identical_submissions_at_once_store_one_case(api, app):
    raw = dumps(make_document())
    headers = {"Authorization": f"Bearer {api.key('EAS')}", "Content-Type": "application/json",
               "Idempotency-Key": "twice-1"}
    responses = []

    def submit():  # a test client each: they keep per-client state
        responses.append(app.test_client().post("/api/v1/cases", data=raw, headers=headers))

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(r.status_code for r in responses) in ([201, 201], [201, 409])
    assert len({body(r)["id"] for r in responses if r.status_code == 201}) == 1
    assert count(app, BusinessCase) == 1


# --- the service's answer ------------------------------------------------------------------

def test_a_replay_is_the_first_answer_exactly(api):
    first = api.submit(make_document(), headers={"Idempotency-Key": "same-answer"})
    replay = api.submit(make_document(), headers={"Idempotency-Key": "same-answer"})
    assert replay.get_data() == first.get_data()
    assert (replay.headers["Location"], replay.headers["ETag"]) == (first.headers["Location"], first.headers["ETag"])


def test_the_same_body_written_differently_is_the_same_request():
    one = {"title": "A", "finance": {"total_investment": 1, "payback_years": 2}}
    other = {"finance": {"payback_years": 2, "total_investment": 1}, "title": "A"}
    assert idempotency.request_digest(one) == idempotency.request_digest(other)
    assert idempotency.request_digest(one) != idempotency.request_digest({**one, "title": "B"})


def test_completing_a_claim_stores_the_answer_a_retry_gets(app):
    db = app.extensions["bcapi"].db
    api_key_id = key_id(app, new_key(app, role="admin"))
    ttl = dt.timedelta(days=1)
    assert idempotency.claim(db, api_key_id=api_key_id, key="k", digest="d" * 64, ttl=ttl) is None
    with db.writing() as session:
        idempotency.complete(session, api_key_id=api_key_id, key="k", status=201, body='{"id": "c1"}', case_id="c1")
        idempotency.complete(session, api_key_id="no-such-key", key="k", status=500, body="", case_id=None)
    replay = idempotency.claim(db, api_key_id=api_key_id, key="k", digest="d" * 64, ttl=ttl)
    assert replay == idempotency.Replay(201, '{"id": "c1"}', "c1")
    idempotency.release(db, api_key_id=api_key_id, key="k")  # a finished answer is never released
    assert idempotency.claim(db, api_key_id=api_key_id, key="k", digest="d" * 64, ttl=ttl) == replay


def test_the_minute_and_the_time_to_live_end_exactly_on_time(app, monkeypatch):
    """With the service's clock stopped at 12:00:00: a claim made exactly a minute before is
    stale and taken over, one made a microsecond later is not; a finished answer stored exactly
    one time to live before has expired, one a microsecond later has not."""
    db = app.extensions["bcapi"].db
    api_key_id = key_id(app, new_key(app, role="admin"))
    noon = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.timezone.utc)
    monkeypatch.setattr(idempotency, "utcnow", lambda: noon)
    ttl, tick = dt.timedelta(hours=1), dt.timedelta(microseconds=1)

    def stored(key: str, *, state: str, at: dt.datetime) -> None:
        with db.writing() as session:
            session.add(IdempotencyRecord(api_key_id=api_key_id, key=key, request_digest="d" * 64, state=state,
                                          created_at=at, response_status=201, response_body="{}", case_id=None))

    def claim(key: str):
        return idempotency.claim(db, api_key_id=api_key_id, key=key, digest="d" * 64, ttl=ttl)

    stored("stale", state="in_flight", at=noon - dt.timedelta(minutes=1))
    stored("busy", state="in_flight", at=noon - dt.timedelta(minutes=1) + tick)
    stored("expired", state="done", at=noon - ttl)
    stored("kept", state="done", at=noon - ttl + tick)
    assert claim("stale") is None  # taken over
    with pytest.raises(IdempotencyConflict):
        claim("busy")
    assert claim("expired") is None  # may be used afresh
    assert claim("kept") == idempotency.Replay(201, "{}", None)


def test_a_key_that_keeps_being_claimed_under_us_is_409_after_three_tries():
    """Each try finds the key free and then loses the insert to another request (a unique-key
    error): after three tries the client is told to retry, rather than looping or failing."""
    from contextlib import contextmanager

    from sqlalchemy.exc import IntegrityError

    tries = []

    class LosingEveryRace:
        @contextmanager
        def writing(self):
            tries.append(1)

            class Session:
                def scalar(self, statement):
                    return None

                def add(self, record):
                    pass

            yield Session()
            raise IntegrityError("INSERT", {}, Exception("duplicate key"))

    with pytest.raises(IdempotencyConflict):
        idempotency.claim(LosingEveryRace(), api_key_id="k", key="contested", digest="d" * 64,
                          ttl=dt.timedelta(days=1))
    assert len(tries) == 3
