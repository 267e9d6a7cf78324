"""``pseudonymize`` (same token as the column), ``tokenize``/``detokenize`` (AES-SIV),
``placeholder`` and ``redact``."""

from __future__ import annotations

import pickle
from typing import Any

import pyarrow as pa
import pytest

from anonymizers.columns import ColumnContext, apply_operator
from anonymizers.errors import BadOperatorParams, UnknownOperator
from anonymizers.text_ops import (
    OperatorContext,
    PlaceholderOperator,
    PseudonymOperator,
    RedactOperator,
    TokenOperator,
    detokenize,
    presidio_engine,
    text_operator,
)
from keys import BadToken, KeyRing
from tests.textops.conftest import KEY_A, KEY_B, TODAY


def _p(entity: str, ctx: OperatorContext) -> dict[str, Any]:
    return {"entity_type": entity, "ctx": ctx}


def test_pseudonym_in_text_equals_pseudonym_in_a_column(ctx: OperatorContext) -> None:
    col_ctx = ColumnContext(KEY_A, "psn-v1.g-1", TODAY)
    column = apply_operator(
        pa.array(["13800138000"]), "pseudonymize", {}, pii="PHONE_NUMBER", ctx=col_ctx
    ).to_pylist()
    op = PseudonymOperator()
    spans = op.operate_batch(["138-0013-8000", "+86 13800138000"], _p("PHONE_NUMBER", ctx))
    assert spans == column * 2
    assert OperatorContext.from_columns(col_ctx).pseudonym_key == KEY_A


def test_pseudonyms_are_unlinkable_across_grants(ctx: OperatorContext) -> None:
    other = OperatorContext(TODAY, KEY_B, "psn-v1.g-2")
    op = PseudonymOperator()
    a = op.operate("段正淳", _p("PERSON", ctx))
    b = op.operate("段正淳", _p("PERSON", other))
    assert a.startswith("per_psn-v1.g-1_") and b.startswith("per_psn-v1.g-2_")
    assert a.rsplit("_", 1)[1] != b.rsplit("_", 1)[1]
    with pytest.raises(BadOperatorParams):
        op.validate(_p("PERSON", OperatorContext(TODAY)))


def test_token_round_trip_through_the_key_ring(ring: KeyRing) -> None:
    ctx = OperatorContext.for_grant(ring, "g-1", TODAY)
    op = TokenOperator()
    op.validate(_p("ID_CARD", ctx))
    tokens = op.operate_batch(["11010519491231002X", "11010519491231002x"], _p("ID_CARD", ctx))
    assert tokens[0] == tokens[1]  # deterministic, and one token per identifier
    assert tokens[0].startswith("tok.")
    assert detokenize(ring, tokens[0], grant_id="g-1", entity="ID_CARD") == "11010519491231002X"


def test_tokens_do_not_open_for_another_grant_or_type_or_when_altered(ring: KeyRing) -> None:
    token = TokenOperator().operate(
        "13800138000", _p("PHONE_NUMBER", OperatorContext.for_grant(ring, "g-1", TODAY))
    )
    other = TokenOperator().operate(
        "13800138000", _p("PHONE_NUMBER", OperatorContext.for_grant(ring, "g-2", TODAY))
    )
    assert token != other
    with pytest.raises(BadToken):
        detokenize(ring, token, grant_id="g-2", entity="PHONE_NUMBER")
    with pytest.raises(BadToken):
        detokenize(ring, token, grant_id="g-1", entity="BANK_CARD")
    body = token.rsplit(".", 1)[1]
    flipped = token[: -len(body)] + ("A" if body[0] != "A" else "B") + body[1:]
    with pytest.raises(BadToken):
        detokenize(ring, flipped, grant_id="g-1", entity="PHONE_NUMBER")
    with pytest.raises(BadToken):
        detokenize(ring, "not-a-token", grant_id="g-1", entity="PHONE_NUMBER")


def test_tokenize_needs_a_ring_and_a_grant() -> None:
    with pytest.raises(BadOperatorParams):
        TokenOperator().validate(_p("PERSON", OperatorContext(TODAY, KEY_A, "psn-v1.g-1")))


@pytest.mark.parametrize(
    ("entity", "label"),
    [
        ("ID_CARD", "<身份证号>"),
        ("PERSON", "<姓名>"),
        ("PHONE_NUMBER", "<手机号>"),
        ("LOCATION", "<地址>"),
        ("BANK_CARD", "<银行卡号>"),
        ("USCC", "<统一社会信用代码>"),
        ("EMAIL_ADDRESS", "<邮箱>"),
        ("LICENSE_PLATE", "<车牌号>"),
        ("PASSPORT", "<护照号>"),
        ("IP_ADDRESS", "<IP地址>"),
        ("SOMETHING_ELSE", "<个人信息>"),
    ],
)
def test_placeholder_names_the_type(entity: str, label: str, ctx: OperatorContext) -> None:
    assert PlaceholderOperator().operate("x", _p(entity, ctx)) == label


def test_redact_removes_the_span(ctx: OperatorContext) -> None:
    assert RedactOperator().operate("段正淳", _p("PERSON", ctx)) == ""


def test_operators_are_looked_up_by_name_and_unknown_ones_refused() -> None:
    assert isinstance(text_operator("fpe"), text_operator("fpe").__class__)
    for name in ("encrypt", "hash", "ff3", "custom"):
        with pytest.raises(UnknownOperator):
            text_operator(name)
    with pytest.raises(BadOperatorParams):
        PlaceholderOperator().validate({"entity_type": "PERSON", "new_value": "x"})


def test_presidio_engine_has_ours_and_not_encrypt_or_hash() -> None:
    names = set(presidio_engine().get_anonymizers())
    assert {"mask", "pseudonymize", "fpe", "tokenize", "placeholder", "redact"} <= names
    assert not {"encrypt", "hash"} & names


def test_context_keeps_keys_out_of_repr_and_pickles() -> None:
    ctx = OperatorContext(TODAY, KEY_A, "psn-v1.g-1")
    assert "aaaa" not in repr(ctx)
    with pytest.raises(TypeError):
        pickle.dumps(ctx)
    with pytest.raises(BadOperatorParams):
        OperatorContext(TODAY, b"short", "psn-v1.g-1")
