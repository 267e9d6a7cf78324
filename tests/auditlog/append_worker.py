"""Child process for the multi-process test: append N entries from T threads, print seqs.

    python tests/auditlog/append_worker.py URL N THREADS TAG
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from gateway.auditlog import AuditLog


def main() -> None:
    url, n, threads, tag = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    engine = sa.create_engine(url)
    log = AuditLog(engine, checkpoint_every=50)
    seqs: list[int] = []
    lock = threading.Lock()

    def work(t: int) -> None:
        for i in range(t, n, threads):
            s = log.record("decision", f"{tag}-{i}", {"worker": tag, "i": i})
            with lock:
                seqs.append(s)

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    log.close()
    engine.dispose()
    print(",".join(map(str, sorted(seqs))))


if __name__ == "__main__":
    main()
