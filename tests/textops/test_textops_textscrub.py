"""The text anonymizer: detection, overlaps, offsets, batches, operator choice."""

from __future__ import annotations

import pytest
from presidio_analyzer import RecognizerResult as R
from presidio_anonymizer.entities import OperatorConfig
from presidio_anonymizer.entities import RecognizerResult as PresidioResult

from anonymizers.errors import BadOperatorParams, UnknownOperator
from anonymizers.text_ops import OperatorContext, presidio_engine, resolve_spans
from anonymizers.textscrub import TextAnonymizer, default_text_anonymizer
from keys import KeyRing
from tests.textops.conftest import TODAY
from tests.textops.standin import RegexDetector

TEXT = (
    "投诉人段正淳，身份证11010519491231002X，电话+86 138-0013-8000，"
    "住北京市海淀区马连洼街道289号，邮箱duandazhi@126.com，车牌陕A12345D。"
)
MASKED = (
    "投诉人段**，身份证110105********002X，电话+86 138-****-8000，"
    "住北京市海淀区*********，邮箱d********@126.com，车牌陕A1****D。"
)


def test_default_is_the_masking_convention(detector: RegexDetector) -> None:
    out, spans = TextAnonymizer(detector, ctx=OperatorContext(TODAY)).anonymize(TEXT)
    assert out == MASKED
    assert [s.entity_type for s in spans] == [
        "PERSON",
        "ID_CARD",
        "PHONE_NUMBER",
        "LOCATION",
        "EMAIL_ADDRESS",
        "LICENSE_PLATE",
    ]
    assert TEXT[spans[1].start : spans[1].end] == "11010519491231002X"


def test_operators_are_chosen_per_entity(detector: RegexDetector, ring: KeyRing) -> None:
    ctx = OperatorContext.for_grant(ring, "g-1", TODAY)
    anonymizer = TextAnonymizer(
        detector,
        ctx=ctx,
        operators={
            "PERSON": ("placeholder", {}),
            "ID_CARD": ("fpe", {}),
            "PHONE_NUMBER": ("tokenize", {}),
            "EMAIL_ADDRESS": ("pseudonymize", {}),
            "DEFAULT": ("redact", {}),
        },
    )
    out, _ = anonymizer.anonymize(TEXT)
    assert out.startswith("投诉人<姓名>，身份证110105")
    assert "马连洼" not in out and "陕A" not in out and "住，" in out
    assert "mail_psn-v" in out and "tok." in out
    again, _ = anonymizer.anonymize(TEXT)
    assert again == out  # deterministic within a grant


def test_full_width_text_keeps_offsets(detector: RegexDetector) -> None:
    text = "（全角）　张三：手机１８０４９５３１９９９，ｅｍａｉｌ：a@b.gov.cn"
    spans = [R("PERSON", 5, 7, 0.9), R("PHONE_NUMBER", 10, 21, 0.9)]
    out = TextAnonymizer(ctx=OperatorContext(TODAY)).apply([text], [spans])[0]
    assert out == "（全角）　张*：手机180****1999，ｅｍａｉｌ：a@b.gov.cn"


def test_overlapping_spans_hide_every_detected_character() -> None:
    text = "号码6228480402564890018结束"
    spans = [R("BANK_CARD", 2, 21, 0.8), R("PHONE_NUMBER", 5, 16, 0.9), R("PERSON", 19, 23, 0.3)]
    resolved = resolve_spans(spans, len(text))
    assert [(s.entity_type, s.start, s.end) for s in resolved] == [("BANK_CARD", 2, 23)]
    out = TextAnonymizer(ctx=OperatorContext(TODAY)).apply([text], [spans])[0]
    assert out.startswith("号码") and out.count("*") == 21 and "结束" not in out


def test_ties_go_to_the_more_specific_type_and_containing_spans_win() -> None:
    same = [R("BANK_CARD", 0, 18, 0.9), R("ID_CARD", 0, 18, 0.9)]
    assert resolve_spans(same, 18)[0].entity_type == "ID_CARD"
    inner = [R("LOCATION", 0, 16, 0.6), R("PERSON", 6, 8, 0.95)]
    assert [(s.entity_type, s.start, s.end) for s in resolve_spans(inner, 16)] == [
        ("LOCATION", 0, 16)
    ]


def test_touching_spans_of_one_type_join_and_others_stay_apart() -> None:
    text = "北京市海淀区马连洼街道289号张三李四"
    spans = [
        R("LOCATION", 0, 6, 0.8),
        R("LOCATION", 6, 15, 0.8),
        R("PERSON", 15, 17, 0.9),
        R("PERSON", 17, 19, 0.9),
    ]
    out = TextAnonymizer(ctx=OperatorContext(TODAY)).apply([text], [spans])[0]
    assert out == "北京市海淀区*********张***"
    # Spans outside the text are clipped, empty ones ignored.
    assert resolve_spans([R("PERSON", 3, 3, 0.9), R("PERSON", -2, 99, 0.9)], 5)[0].end == 5


def test_many_texts_in_one_batch(detector: RegexDetector) -> None:
    texts = [TEXT, "", "没有个人信息", "张三的电话13800138000"] * 50
    anonymizer = TextAnonymizer(detector, ctx=OperatorContext(TODAY))
    out = anonymizer.anonymize_many(texts)
    assert [o for o, _ in out[:4]] == [MASKED, "", "没有个人信息", "张*的电话138****8000"]
    assert anonymizer(texts) == [o for o, _ in out]


def test_entities_restrict_detection(detector: RegexDetector) -> None:
    out, spans = TextAnonymizer(
        detector, ctx=OperatorContext(TODAY), entities=["ID_CARD"]
    ).anonymize(TEXT)
    assert [s.entity_type for s in spans] == ["ID_CARD"] and "段正淳" in out


def test_bad_configurations_fail_when_built() -> None:
    with pytest.raises(UnknownOperator):
        TextAnonymizer(operators={"PERSON": ("encrypt", {})})
    with pytest.raises(BadOperatorParams):
        TextAnonymizer(operators={"PERSON": ("fpe", {})})  # no format to preserve
    with pytest.raises(BadOperatorParams):
        TextAnonymizer(operators={"DEFAULT": ("pseudonymize", {})})  # no grant key
    with pytest.raises(BadOperatorParams):
        TextAnonymizer(operators={"PHONE_NUMBER": ("mask", {"keep_first": 99})})


def test_default_text_anonymizer_for_scan() -> None:
    anonymize = default_text_anonymizer(TODAY)
    assert anonymize("段正淳来电", [R("PERSON", 0, 3, 0.9)]) == "段**来电"
    assert anonymize("无", []) == "无"


def test_presidio_engine_gives_the_same_text_on_disjoint_spans(
    detector: RegexDetector,
) -> None:
    ctx = OperatorContext(TODAY, b"k" * 32, "psn-v1.g-1")
    ours = TextAnonymizer(
        ctx=ctx, operators={"PHONE_NUMBER": ("fpe", {}), "EMAIL_ADDRESS": ("pseudonymize", {})}
    )
    spans = resolve_spans(detector.analyze(TEXT), len(TEXT))
    configs = {
        e: OperatorConfig(op, {"ctx": ctx})
        for e, op in [
            ("PERSON", "mask"),
            ("ID_CARD", "mask"),
            ("LOCATION", "mask"),
            ("LICENSE_PLATE", "mask"),
            ("PHONE_NUMBER", "fpe"),
            ("EMAIL_ADDRESS", "pseudonymize"),
        ]
    }
    result = presidio_engine().anonymize(
        TEXT,
        [PresidioResult(s.entity_type, s.start, s.end, s.score) for s in spans],
        operators=configs,
    )
    assert result.text == ours.apply([TEXT], [spans])[0]


def test_default_text_anonymizer_masks_batches_like_single_texts(
    detector: RegexDetector,
) -> None:
    texts = [TEXT, "无", "张三的电话13800138000"]
    results = [detector.analyze(t) for t in texts]
    anonymize = default_text_anonymizer(TODAY)
    assert anonymize.many(texts, results) == [anonymize(t, r) for t, r in zip(texts, results)]


class _BatchDetector(RegexDetector):
    def __init__(self) -> None:
        super().__init__()
        self.batches = 0

    def analyze_batch(self, texts: list[str], entities: list[str] | None = None) -> list[list[R]]:
        self.batches += 1
        return [self.analyze(t, entities) for t in texts]


def test_a_detector_that_tags_in_batches_is_called_once_per_batch() -> None:
    detector = _BatchDetector()
    out = TextAnonymizer(detector, ctx=OperatorContext(TODAY)).anonymize_many([TEXT, "无"])
    assert detector.batches == 1 and out[0][0] == MASKED
