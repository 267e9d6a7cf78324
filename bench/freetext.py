"""Free-text detection throughput, single core (not a test).

Generates demo complaint texts (:mod:`gateway.demo.freetext`), cuts each at the first
clause end after ~40 characters to get short texts of about 50 characters (never
inside an entity), then times with ``time.process_time``:

- ``analyze``: :meth:`Detector.analyze` one text at a time;
- ``analyze_batch``: :meth:`Detector.analyze_batch` (the tagger runs on equal-length
  texts together);
- ``+ anonymize``: batch analysis plus ``anonymizers.textscrub.default_text_anonymizer``
  (when that module exists).

ONNX Runtime is pinned to one thread by the detector; BLAS/OpenMP pools are pinned to
one thread here. Prints texts per second and the machine.

    .venv/bin/python -m bench.freetext [--texts 5000] [--backend lac,jieba,none]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import platform
import random
import time
from collections.abc import Callable
from typing import Any

from anonymizers.analyzer import Detector, build_analyzer
from gateway.demo import names as N
from gateway.demo.fake import Fake
from gateway.demo.freetext import ticket_description

_CLAUSE_ENDS = "，。；"


def short_texts(n: int, seed: int = 7, target: int = 40) -> list[str]:
    """``n`` demo texts cut at the first clause end at or after ``target`` characters."""
    f = Fake(random.Random(seed))
    out: list[str] = []
    while len(out) < n:
        county = f.county()
        category = N.CATEGORIES[int(f.r() * len(N.CATEGORIES))][0]
        t = ticket_description(f, county, category, f.name(), f.phone(county))
        cut = len(t.text)
        for i in range(target, len(t.text)):
            inside = any(s.start <= i < s.end for s in t.entities + t.negatives)
            if t.text[i] in _CLAUSE_ENDS and not inside:
                cut = i + 1
                break
        out.append(t.text[:cut])
    return out


def _rate(fn: Callable[[], object], n: int) -> float:
    start = time.process_time()
    fn()
    return n / max(time.process_time() - start, 1e-9)


def main() -> None:
    """Print texts/second for each backend."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--texts", type=int, default=5000)
    ap.add_argument("--backend", default="lac,jieba,none")
    args = ap.parse_args()
    texts = short_texts(args.texts)
    avg = sum(map(len, texts)) / len(texts)
    print(f"machine: {platform.machine()} {platform.processor() or ''} "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"{len(texts)} texts, {avg:.1f} characters on average; CPU time, one core")
    try:
        from anonymizers.textscrub import default_text_anonymizer

        masker = default_text_anonymizer()
    except ImportError:
        masker = None
    for backend in args.backend.split(","):
        start = time.process_time()
        detector = build_analyzer(backend)
        build_s = time.process_time() - start
        print(f"{backend:6s} build {build_s:.2f}s | " + _measure(detector, texts, masker))


def _measure(detector: Detector, texts: list[str], masker: Any) -> str:
    def fresh() -> None:  # a warm tag cache would hide the tagger's cost
        if detector.backend is not None:
            detector.backend._cache.clear()  # type: ignore[attr-defined]

    detector.analyze_batch(texts[:200])  # warm-up
    fresh()
    single = _rate(lambda: [detector.analyze(t) for t in texts], len(texts))
    fresh()
    batch = _rate(lambda: detector.analyze_batch(texts), len(texts))
    line = f"analyze {single:,.0f}/s | analyze_batch {batch:,.0f}/s"
    if masker is not None:
        fresh()

        def both() -> None:
            masker.many(texts, detector.analyze_batch(texts))

        line += f" | analyze_batch + anonymize {_rate(both, len(texts)):,.0f}/s"
    return line


if __name__ == "__main__":
    main()
