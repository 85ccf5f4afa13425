"""bench.haload.summarize: how a timeline of credential requests is cut at an event (a kill, a switch)."""

from __future__ import annotations

from bench.haload import Attempt, Route, _error_text, summarize


def ok(group: str, start: float, end: float) -> Attempt:
    return Attempt(0, group, "n2", start, end, 200, "", f"v-u-{start}", f"lease/{start}")


def failed(group: str, start: float, end: float, error: str, node: str = "n1") -> Attempt:
    return Attempt(0, group, node, start, end, 0, error)


def test_the_first_credential_after_the_event_comes_from_a_request_sent_after_it() -> None:
    attempts = [
        ok("a", 8.0, 9.0),
        ok("a", 9.5, 10.2),  # in flight at the event (10.0), answered by the node about to go
        failed("a", 9.8, 10.1, "connection closed without an answer"),
        failed("a", 10.3, 10.4, "connection refused"),
        failed("b", 10.2, 10.5, "HTTP 307 redirect to n1", node="n2"),
        ok("b", 12.0, 12.5),
        ok("a", 12.1, 13.0),
    ]
    s = summarize(attempts, event=10.0, settle=1.0)
    assert s["first_success_s"] == 2.5
    assert s["groups"]["a"]["first_success_s"] == 3.0
    assert s["groups"]["a"]["gap_s"] == 4.0  # last credential before (9.0) to the first after (13.0)
    assert s["groups"]["b"]["failed"] == 1
    assert [f["outcome"] for f in s["in_flight"]] == ["credential", "connection closed without an answer"]
    assert s["failed"] == 3
    assert s["errors"]["connection refused"] == {"count": 1, "first_s": 0.4, "last_s": 0.4, "nodes": ["n1"]}
    assert s["latency"]["before"]["n"] == 1
    assert s["latency"]["switch"]["n"] == 3  # the in-flight credential and both sent before 2.5 + 1.0


def test_until_leaves_out_requests_of_the_next_event() -> None:
    attempts = [ok("a", 1.0, 1.1), failed("a", 2.0, 2.1, "x"), failed("a", 5.0, 5.1, "y")]
    s = summarize(attempts, event=1.5, until=4.0)
    assert s["failed"] == 1 and list(s["errors"]) == ["x"]


def test_error_texts_group_equal_answers() -> None:
    body = {"errors": ["unable to create user v-root-app-AbC-1795 at 127.0.0.1:41234"]}
    assert _error_text(500, body, "", {}) == "HTTP 500: unable to create user * at *"
    assert (
        _error_text(307, {}, "http://127.0.0.1:18200/v1/database/creds/app", {18200: "n1"}) == "HTTP 307 redirect to n1"
    )


def test_a_route_moves_on_only_when_allowed() -> None:
    fixed, moving = Route([("n1", 1), ("n2", 2)]), Route([("n1", 1), ("n2", 2)], failover=True)
    fixed.unreachable()
    moving.unreachable()
    assert fixed.current == ("n1", 1) and moving.current == ("n2", 2)
