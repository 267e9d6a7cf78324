"""Common Chinese words, from the dictionary shipped inside ``jieba`` (MIT).

A tagger that has never seen ``游客`` or ``应当`` as a name may still label them as one
because they start with a surname character (游, 应). Words the dictionary lists with
a fair frequency and a tag other than a person name are treated as common words, not
names. Loaded once, offline; a missing dictionary raises ``DetectorUnavailable``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from anonymizers.errors import DetectorUnavailable

MIN_FREQ = 50
_NAME_TAGS = frozenset({"nr", "nrt", "nrfg"})


@lru_cache(maxsize=1)
def common_words() -> frozenset[str]:
    """Words of two to four characters that are common and not person names."""
    try:
        import jieba
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise DetectorUnavailable(f"the word list needs jieba: {exc}") from exc
    path = Path(jieba.__file__).parent / "dict.txt"
    words: set[str] = set()
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                parts = line.split()
                if (len(parts) == 3 and 2 <= len(parts[0]) <= 4
                        and parts[2] not in _NAME_TAGS and int(parts[1]) >= MIN_FREQ):
                    words.add(parts[0])
    except (OSError, ValueError) as exc:
        raise DetectorUnavailable(f"jieba dictionary unreadable at {path}: {exc}") from exc
    return frozenset(words)
