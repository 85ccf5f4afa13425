"""The multiplex-id registry: routing, Close, and requests that arrive after Close."""

from __future__ import annotations

import pytest

from yamldb.lifecycle.instances import Instances, UnknownInstance


class FakeDatabase:
    """Stands in for ManifestDatabase; the registry only calls release() and close()."""

    def __init__(self) -> None:
        self.released = self.closed = 0

    def release(self) -> None:
        self.released += 1

    def close(self) -> None:
        self.closed += 1


def test_ids_get_their_own_instances():
    registry = Instances(FakeDatabase)
    a, b = registry.get_or_create("a"), registry.get_or_create("b")
    assert a is not b and registry.get("a") is a and len(registry) == 2


def test_unknown_id_is_a_clear_error():
    with pytest.raises(UnknownInstance, match="no database instance found"):
        Instances(FakeDatabase).get("nope")


def test_close_releases_at_once_and_serves_stragglers_during_the_grace():
    registry = Instances(FakeDatabase, grace=60)
    a = registry.get_or_create("a")
    registry.close("a")
    assert a.released == 1 and a.closed == 0 and len(registry) == 0
    assert registry.get("a") is a  # a request the host sent before closing


def test_retired_instances_are_closed_after_the_grace():
    registry = Instances(FakeDatabase, grace=0)
    a = registry.get_or_create("a")
    registry.close("a")
    with pytest.raises(UnknownInstance):
        registry.get("a")
    assert a.closed == 1


def test_close_all_closes_active_and_retired():
    registry = Instances(FakeDatabase, grace=60)
    a, b = registry.get_or_create("a"), registry.get_or_create("b")
    registry.close("a")
    registry.close_all()
    assert a.closed == 1 and b.closed == 1 and len(registry) == 0
