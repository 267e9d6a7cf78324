"""``pgw scan``: streaming JSONL in, spans or masked text out."""

from __future__ import annotations

import json
import random
import sys
import types
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest
import typer
from presidio_analyzer import RecognizerResult
from typer.testing import CliRunner

from anonymizers.analyzer import Detector
from anonymizers.recognizers import ENTITIES
from anonymizers.scan import BATCH, scan_command, scan_jsonl
from gateway.demo import names as N
from gateway.demo.fake import Fake
from gateway.demo.freetext import TicketText, ticket_description

IDENTIFIERS = ("ID_CARD", "PHONE_NUMBER", "BANK_CARD", "LICENSE_PLATE")


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(scan_command)
    return app


def _tickets(n: int, seed: int = 11) -> list[TicketText]:
    f = Fake(random.Random(seed))
    out = []
    for _ in range(n):
        county = f.county()
        category = N.CATEGORIES[int(f.r() * len(N.CATEGORIES))][0]
        out.append(ticket_description(f, county, category, f.name(), f.phone(county)))
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[TicketText]]:
    tickets = _tickets(2000)
    path = tmp_path_factory.mktemp("scan") / "in.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(
            json.dumps({"id": f"t{i}", "text": t.text}, ensure_ascii=False) + "\n"
            for i, t in enumerate(tickets)
        )
    return path, tickets


def _read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_scan_cli_offsets(corpus: tuple[Path, list[TicketText]], tmp_path: Path) -> None:
    src, tickets = corpus
    out = tmp_path / "out.jsonl"
    res = CliRunner().invoke(_app(), ["--input", str(src), "--output", str(out),
                                      "--progress-every", "500"])
    assert res.exit_code == 0, res.output
    assert "scan: 512 records (" in res.output  # progress on stderr, per batch
    rows = _read(out)
    assert [r["id"] for r in rows] == [f"t{i}" for i in range(2000)]
    gold = predicted = 0
    for row, ticket in zip(rows, tickets):
        spans = {(e["type"], e["start"], e["end"]) for e in row["entities"]}
        for e in row["entities"]:
            assert e["type"] in ENTITIES
            assert 0 <= e["start"] < e["end"] <= len(ticket.text)
            assert 0.0 < e["score"] <= 1.0 and round(e["score"], 3) == e["score"]
        for s in ticket.entities:
            if s.type in IDENTIFIERS:
                gold += 1
                predicted += (s.type, s.start, s.end) in spans
                assert ticket.text[s.start : s.end] == s.value
        for neg in ticket.negatives:
            assert not any(a < neg.end and neg.start < b for _, a, b in spans), neg
    assert gold > 500 and predicted / gold >= 0.99


def test_scan_entities_option(corpus: tuple[Path, list[TicketText]], tmp_path: Path) -> None:
    src, _ = corpus
    out = tmp_path / "out.jsonl"
    res = CliRunner().invoke(_app(), ["--input", str(src), "--output", str(out),
                                      "--entities", "PHONE_NUMBER, ID_CARD", "--backend", "none"])
    assert res.exit_code == 0, res.output
    types_seen = {e["type"] for r in _read(out) for e in r["entities"]}
    assert types_seen == {"PHONE_NUMBER", "ID_CARD"}


def test_scan_anonymize(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = types.ModuleType("anonymizers.textscrub")

    def default_text_anonymizer() -> object:
        def mask(text: str, results: list[RecognizerResult]) -> str:
            for r in sorted(results, key=lambda r: -r.start):
                text = text[: r.start] + "*" * (r.end - r.start) + text[r.end :]
            return text
        return mask

    fake.default_text_anonymizer = default_text_anonymizer  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "anonymizers.textscrub", fake)
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(json.dumps({"id": 7, "text": "电话13800138000"}) + "\n", encoding="utf-8")
    res = CliRunner().invoke(_app(), ["--input", str(src), "--output", str(out), "--anonymize",
                                      "--backend", "none"])
    assert res.exit_code == 0, res.output
    assert _read(out) == [{"id": 7, "text": "电话***********"}]


def test_scan_anonymize_without_textscrub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "anonymizers.textscrub", None)
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": 1, "text": "x"}\n', encoding="utf-8")
    res = CliRunner().invoke(_app(), ["--input", str(src), "--output", str(tmp_path / "o"),
                                      "--anonymize", "--backend", "none"])
    assert res.exit_code == 2
    assert "default_text_anonymizer" in res.output


def test_scan_bad_input(tmp_path: Path, ids_only: Detector) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": 1, "text": "x"}\nnot json\n', encoding="utf-8")
    with pytest.raises(Exception, match=r"in.jsonl:2"):
        scan_jsonl(src, tmp_path / "o", detector=ids_only)


class _CountingDetector:
    """Test double: records batch sizes, finds nothing."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def analyze_batch(self, texts: Iterable[str], entities: Sequence[str] | None = None
                      ) -> list[list[RecognizerResult]]:
        texts = list(texts)
        self.batches.append(len(texts))
        return [[] for _ in texts]


def test_scan_streams_in_batches(tmp_path: Path) -> None:
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    n = BATCH * 3 + 5
    src.write_text("".join(json.dumps({"id": i, "text": "无"}) + "\n\n" for i in range(n)))
    det = _CountingDetector()
    seen: list[int] = []
    count = scan_jsonl(src, out, detector=det, progress=seen.append)  # type: ignore[arg-type]
    assert count == n and len(_read(out)) == n
    assert max(det.batches) <= BATCH and sum(det.batches) == n
    assert seen == [BATCH, 2 * BATCH, 3 * BATCH, n]
