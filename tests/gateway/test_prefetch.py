"""The store prefetcher: same batches in order, errors re-raised, early stop closes the source."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from gateway.errors import StoreUnavailable
from gateway.stores import Batch, prefetch


def _source(n: int, closed: threading.Event, fail_at: int | None = None) -> Iterator[Batch]:
    try:
        for i in range(n):
            if i == fail_at:
                raise StoreUnavailable("upstream query failed (test)")
            yield Batch(names=("id",), columns={"id": [i]}, n_rows=1, last_key=i)
    finally:
        closed.set()


def test_same_batches_in_order() -> None:
    closed = threading.Event()
    assert [b.last_key for b in prefetch(_source(50, closed))] == list(range(50))
    assert closed.wait(1)


def test_error_reaches_consumer() -> None:
    closed = threading.Event()
    with pytest.raises(StoreUnavailable):
        list(prefetch(_source(50, closed, fail_at=7)))
    assert closed.wait(1)


def test_early_stop_closes_source() -> None:
    closed = threading.Event()
    it = prefetch(_source(10_000, closed))
    assert next(it).last_key == 0
    it.close()  # what Starlette does when the client goes away
    assert closed.wait(2)
