"""Streaming JSONL scan: ``{"id", "text"}`` records in, entity spans (or masked text) out.

Records are read, analyzed and written in batches of a few hundred, so memory stays
constant however long the input is. :func:`scan_command` is the ``pgw scan`` command.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from presidio_analyzer import RecognizerResult

from anonymizers.analyzer import Detector, build_analyzer
from anonymizers.errors import AnonymizerError, DetectorUnavailable

AnonymizeFn = Callable[[str, list[RecognizerResult]], str]
ProgressFn = Callable[[int], None]
BATCH = 256


def _entity(r: RecognizerResult) -> dict[str, Any]:
    return {"type": r.entity_type, "start": r.start, "end": r.end, "score": round(r.score, 3)}


def _read(line: bytes, where: str) -> tuple[Any, str]:
    try:
        rec = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise AnonymizerError(f"{where}: not a JSON object ({exc.msg})") from None
    if not isinstance(rec, dict) or "id" not in rec:
        raise AnonymizerError(f"{where}: a record needs an 'id' and a 'text'")
    text = rec.get("text")
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise AnonymizerError(f"{where}: 'text' must be a string")
    return rec["id"], text


def scan_jsonl(
    input_path: str | Path,
    output_path: str | Path,
    *,
    entities: Sequence[str] | None = None,
    anonymize_fn: AnonymizeFn | None = None,
    progress: ProgressFn | None = None,
    detector: Detector | None = None,
) -> int:
    """Scan ``input_path`` (JSONL of ``{"id", "text"}``) into ``output_path``.

    Writes ``{"id", "entities": [{"type", "start", "end", "score"}]}`` per record
    (character offsets into ``text``, end exclusive, score to 3 decimals), or
    ``{"id", "text": anonymize_fn(text, results)}`` when ``anonymize_fn`` is given.
    ``progress`` is called with the running record count after every batch. Returns
    the number of records written. Builds the default detector when none is given.
    """
    det = detector if detector is not None else build_analyzer()
    many = getattr(anonymize_fn, "many", None)
    count = 0
    with open(input_path, "rb") as fin, open(output_path, "wb") as fout:
        ids: list[Any] = []
        texts: list[str] = []

        def flush() -> None:
            nonlocal count
            found = det.analyze_batch(texts, entities)
            if anonymize_fn is None:
                rows = [
                    {"id": i, "entities": [_entity(r) for r in rs]} for i, rs in zip(ids, found)
                ]
            else:
                masked = many(texts, found) if callable(many) else [
                    anonymize_fn(t, rs) for t, rs in zip(texts, found)
                ]
                rows = [{"id": i, "text": m} for i, m in zip(ids, masked)]
            fout.write(b"".join(orjson.dumps(row) + b"\n" for row in rows))
            count += len(rows)
            ids.clear()
            texts.clear()
            if progress is not None:
                progress(count)

        for line_no, line in enumerate(fin, 1):
            if not line.strip():
                continue
            rid, text = _read(line, f"{input_path}:{line_no}")
            ids.append(rid)
            texts.append(text)
            if len(texts) >= BATCH:
                flush()
        if texts:
            flush()
    return count


def _load_anonymizer() -> AnonymizeFn:
    try:
        from anonymizers.textscrub import default_text_anonymizer
    except ImportError as exc:
        raise AnonymizerError(
            "--anonymize needs anonymizers.textscrub.default_text_anonymizer, "
            f"which is not available: {exc}"
        ) from exc
    fn: AnonymizeFn = default_text_anonymizer()
    return fn


def scan_command(
    input: Annotated[Path, typer.Option("--input", help="JSONL records {id, text}.")],
    output: Annotated[Path, typer.Option("--output", help="Where to write JSONL results.")],
    entities: Annotated[
        str | None, typer.Option("--entities", help="Comma list of entity types.")
    ] = None,
    anonymize: Annotated[
        bool, typer.Option("--anonymize", help="Write desensitized text instead of spans.")
    ] = False,
    backend: Annotated[
        str, typer.Option("--backend", help="PERSON/LOCATION tagger: lac, jieba or none.")
    ] = "lac",
    progress_every: Annotated[
        int, typer.Option("--progress-every", help="Report progress every N records.")
    ] = 10_000,
) -> None:
    """Scan free text for personal data: spans, or masked text with --anonymize."""
    wanted = [e.strip() for e in entities.split(",") if e.strip()] if entities else None
    started = time.monotonic()
    last = 0

    def report(n: int) -> None:
        nonlocal last
        if n - last >= progress_every:
            last = n
            rate = n / max(time.monotonic() - started, 1e-9)
            print(f"scan: {n} records ({rate:.0f}/s)", file=sys.stderr, flush=True)

    try:
        fn = _load_anonymizer() if anonymize else None
        detector = build_analyzer(backend)
        n = scan_jsonl(input, output, entities=wanted, anonymize_fn=fn, progress=report,
                       detector=detector)
    except (DetectorUnavailable, AnonymizerError, OSError) as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    print(f"scan: {n} records written to {output} in {time.monotonic() - started:.1f}s",
          file=sys.stderr, flush=True)
