"""The one-word attack files of the Safety Mirage paper (Chen et al., arXiv:2503.11832).

They are VLGuard test records in VLGuard's JSON format, rewritten to start with one word:
the 3-shot "What" file holds three consecutive records per unsafe test id (the three rewrites
of one query, 1,326 records), the 1-shot "Share" file one record per query (556 records).
`safe` may be the string "True"/"False" and `instr-resp` a string holding a Python literal;
`vlguard.parse_record` reads both safely.

Each sample gets `meta.shot` (0, 1, 2, ... in file order among the records of its id),
`meta.source_id` (the id the original query has in the VLGuard test set, `RECORD_ID:GROUP`,
which is how evaluation groups the K shots of one query) and a unique id `RECORD_ID~SHOT:GROUP`.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from ..errors import DataError
from .loading import check_image_paths, read_records
from .records import Sample
from .vlguard import parse_record


def load_mirage(path: str | Path, image_root: str | Path | None = None, shots: int | None = None,
                check_images: bool = True) -> list[Sample]:
    """A Safety Mirage attack file (VLGuard-format JSON, K rewrites per query) as samples.

    `image_root` is the VLGuard test image folder (default: the file's folder). `shots`, when
    given, checks that every record id occurs exactly that many times.
    """
    if shots is not None and shots < 1:
        raise DataError(f"shots must be >= 1, got {shots}")
    samples: list[Sample] = []
    seen: Counter[str | None] = Counter()
    for i, (_, rec) in enumerate(read_records(path, "Safety Mirage attack file")):
        rid = str(rec["id"]) if isinstance(rec, dict) and "id" in rec else None  # None: parse_record says why
        shot = seen[rid]
        for s in parse_record(rec, i, f"{path}: ", None if rid is None else f"{rid}~{shot}"):
            samples.append(s.with_(meta={**s.meta, "source_id": f"{rid}:{s.group}", "shot": shot}))
        seen[rid] += 1
    wrong = [(rid, n) for rid, n in seen.items() if shots is not None and n != shots]
    if wrong:
        rid, n = wrong[0]
        raise DataError(f"{path}: record id {rid!r} occurs {n} times, expected {shots} (one per shot); "
                        f"{len(wrong)} id(s) differ. Is this the {shots}-shot file?")
    root = Path(path).parent if image_root is None else image_root
    return check_image_paths(samples, root, str(path), check_images)
