"""``pseudonymize``: keyed, deterministic, key id in every token, one MAC per distinct value."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

import pyarrow as pa
import pytest

from anonymizers.columns import ColumnContext, apply_operator
from anonymizers.errors import AnonymizerError
from anonymizers.pseudonym import token, token_key_id

TODAY = dt.date(2025, 6, 1)
CTX = ColumnContext(b"k" * 32, "psn-v1.g-123", TODAY)
OTHER_KEY = ColumnContext(b"j" * 32, "psn-v1.g-123", TODAY)
TOKEN = re.compile(r"[a-z]+_psn-v1\.g-123_[a-z2-7]{16}")


def pseudo(
    values: Sequence[str | None], pii: str | None, ctx: ColumnContext = CTX
) -> list[str | None]:
    column = pa.array(values, type=pa.string())
    out: list[str | None] = apply_operator(column, "pseudonymize", {}, pii=pii, ctx=ctx).to_pylist()
    return out


@pytest.mark.parametrize(
    ("pii", "value", "prefix"),
    [
        ("ID_CARD", "11010519491231002X", "idc"),
        ("PHONE_NUMBER", "18049531999", "tel"),
        ("PERSON", "段正淳", "per"),
        ("USCC", "91310110666007217T", "org"),
        ("BANK_CARD", "6228480402564890018", "card"),
        ("EMAIL_ADDRESS", "duandazhi@126.com", "mail"),
        ("LICENSE_PLATE", "苏D40000", "plate"),
        (None, "anything", "psn"),
    ],
)
def test_token_format_names_entity_and_key(pii: str | None, value: str, prefix: str) -> None:
    (out,) = pseudo([value], pii)
    assert out is not None and TOKEN.fullmatch(out)
    assert out.startswith(prefix + "_")
    assert token_key_id(out) == "psn-v1.g-123"
    assert value not in out


def test_key_id_with_underscores_is_recoverable() -> None:
    ctx = ColumnContext(b"k" * 32, "psn_v2_grant_9", TODAY)
    (out,) = pseudo(["段正淳"], "PERSON", ctx)
    assert out is not None and token_key_id(out) == "psn_v2_grant_9"


def test_deterministic_across_calls_and_batches() -> None:
    first = pseudo(["段正淳", "王伟"], "PERSON")
    second = pseudo(["王伟", "李娜", "段正淳"], "PERSON")
    assert first == [second[2], second[0]]
    assert len(set(second)) == 3


def test_different_keys_give_unlinkable_tokens() -> None:
    ours, theirs = pseudo(["段正淳"], "PERSON"), pseudo(["段正淳"], "PERSON", OTHER_KEY)
    assert ours[0] != theirs[0]
    assert ours[0] is not None and theirs[0] is not None
    assert ours[0].rsplit("_", 1)[1] != theirs[0].rsplit("_", 1)[1]


def test_same_digits_in_other_entity_types_do_not_collide() -> None:
    digits = "110105194912310021"
    tokens = {pseudo([digits], pii)[0].rsplit("_", 1)[1] for pii in ("ID_CARD", "BANK_CARD", None)}  # type: ignore[union-attr]
    assert len(tokens) == 3


@pytest.mark.parametrize(
    ("pii", "spellings"),
    [
        ("ID_CARD", ["11010519491231002X", "11010519491231002x", " 11010519491231002X "]),
        (
            "PHONE_NUMBER",
            ["13800138000", "138 0013 8000", "+86-138-0013-8000", "１３８００１３８０００"],
        ),
        ("BANK_CARD", ["6228480402564890018", "6228 4804 0256 4890 018"]),
        ("EMAIL_ADDRESS", ["DuanDazhi@126.com", "duandazhi@126.com"]),
        ("LICENSE_PLATE", ["苏D40000", "苏D·40000", "苏d40000"]),
    ],
)
def test_spellings_of_one_identifier_share_a_token(pii: str, spellings: list[str]) -> None:
    assert len(set(pseudo(spellings, pii))) == 1


def test_distinct_values_with_duplicates_match_per_value_reference() -> None:
    values = ["张三", "李四", None, "张三", "王五", "李四", "张三", None]
    out = pseudo(values, "PERSON")
    expected = [
        None if v is None else token(v, "PERSON", CTX.pseudonym_key, "psn-v1.g-123") for v in values
    ]
    assert out == expected


def test_many_rows_few_distinct_values() -> None:
    values = ["张三", "李四", "王五", None] * 25_000
    out = pseudo(values, "PERSON")
    assert out[:4] == pseudo(["张三", "李四", "王五", None], "PERSON")
    assert out == out[:4] * 25_000


def test_chunked_column_keeps_layout_and_tokens() -> None:
    flat = ["张三", "李四", None, "张三", "王五"]
    chunked = pa.chunked_array([flat[:2], [], flat[2:]], type=pa.string())
    out = apply_operator(chunked, "pseudonymize", {}, pii="PERSON", ctx=CTX)
    assert isinstance(out, pa.ChunkedArray)
    assert [len(c) for c in out.chunks] == [2, 0, 3]
    assert out.to_pylist() == pseudo(flat, "PERSON")


def test_numbers_are_pseudonymized_as_text() -> None:
    out = apply_operator(pa.array([8364774461, None]), "pseudonymize", {}, pii=None, ctx=CTX)
    assert out.to_pylist() == [token("8364774461", None, CTX.pseudonym_key, "psn-v1.g-123"), None]


@pytest.mark.parametrize("key_id", ["", "has space", "slash/no", "x" * 65, "-leading"])
def test_key_ids_that_cannot_live_in_a_token_are_refused(key_id: str) -> None:
    with pytest.raises(AnonymizerError):
        ColumnContext(b"k" * 32, key_id, TODAY)


def test_short_keys_are_refused_and_keys_never_shown() -> None:
    with pytest.raises(AnonymizerError):
        ColumnContext(b"short", "psn-v1", TODAY)
    assert "kkkk" not in repr(CTX)


@pytest.mark.parametrize("text", ["", "idc_abc", "IDC_k_abcdefghijklmnop", "idc__abcdefghijklmnop"])
def test_token_key_id_rejects_non_tokens(text: str) -> None:
    with pytest.raises(AnonymizerError):
        token_key_id(text)
