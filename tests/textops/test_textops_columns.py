"""``scrub`` through ``ColumnContext.text``: cell by cell with the free-text anonymizer."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pytest

from anonymizers.columns import ColumnContext, apply_operator
from anonymizers.errors import AnonymizerError
from anonymizers.text_ops import OperatorContext
from anonymizers.textscrub import TextAnonymizer
from tests.textops.conftest import KEY_A, TODAY
from tests.textops.standin import RegexDetector

NOTES = ["张三来电，手机13800138000", None, "无个人信息", "张三来电，手机13800138000"]


def _ctx(detector: RegexDetector | None) -> ColumnContext:
    base = ColumnContext(KEY_A, "psn-v1.g-1", TODAY)
    if detector is None:
        return base
    text = TextAnonymizer(detector, ctx=OperatorContext.from_columns(base))
    return ColumnContext(KEY_A, "psn-v1.g-1", TODAY, text=text)


def test_scrub_desensitizes_each_cell_and_keeps_nulls(detector: RegexDetector) -> None:
    out = apply_operator(pa.array(NOTES), "scrub", {}, pii=None, ctx=_ctx(detector))
    assert out.to_pylist() == [
        "张*来电，手机138****8000",
        None,
        "无个人信息",
        "张*来电，手机138****8000",
    ]
    assert detector.calls == 2  # repeated cells are scrubbed once


def test_scrub_without_a_detector_still_redacts_whole_cells() -> None:
    out = apply_operator(pa.array(NOTES), "scrub", {}, pii=None, ctx=_ctx(None))
    assert out.to_pylist() == ["[REDACTED]", None, "[REDACTED]", "[REDACTED]"]


def test_scrub_keeps_chunks_and_handles_all_null_and_numbers(detector: RegexDetector) -> None:
    ctx = _ctx(detector)
    chunked = pa.chunked_array([NOTES[:2], [], NOTES[2:]])
    out = apply_operator(chunked, "scrub", {}, pii=None, ctx=ctx)
    assert [len(c) for c in out.chunks] == [2, 0, 2]
    assert (
        out.to_pylist()
        == apply_operator(pa.array(NOTES), "scrub", {}, pii=None, ctx=ctx).to_pylist()
    )
    assert apply_operator(
        pa.array([None, None], pa.string()), "scrub", {}, pii=None, ctx=ctx
    ).to_pylist() == [None, None]
    numbers = apply_operator(pa.array([13800138000, None]), "scrub", {}, pii=None, ctx=ctx)
    assert numbers.to_pylist() == ["138****8000", None]


class _Broken:
    def __init__(self, result: list[object]) -> None:
        self.result = result

    def __call__(self, texts: Sequence[str]) -> list[str]:
        return self.result  # type: ignore[return-value]


@pytest.mark.parametrize("result", [[], ["a", "b", "c", "d", "e"], [None, "x", "y"]])
def test_a_scrubber_that_loses_or_adds_cells_is_refused(result: list[object]) -> None:
    ctx = ColumnContext(KEY_A, "psn-v1.g-1", TODAY, text=_Broken(result))
    with pytest.raises(AnonymizerError):
        apply_operator(pa.array(NOTES), "scrub", {}, pii=None, ctx=ctx)


def test_scrub_failures_propagate(detector: RegexDetector) -> None:
    def boom(texts: Sequence[str]) -> list[str]:
        raise RuntimeError("detector down")

    with pytest.raises(RuntimeError):
        apply_operator(
            pa.array(NOTES),
            "scrub",
            {},
            pii=None,
            ctx=ColumnContext(KEY_A, "psn-v1.g-1", TODAY, text=boom),
        )
