"""The fence between gc and publishes that reuse old content.

gc decides what to delete, then looks at the records and young manifests once more, then
deletes: a publish that reuses content nothing references (a deleted version's, say) and
commits between that last look and the deletes would lose it. So gc first writes the digests
it may delete (``gc/<id>.json``, refreshed while it deletes, removed at its end), and only then
looks once more. A publish that needs one of them waits for that gc to end and then stores its
data anew; one that looked before the fence was up is seen by gc's last look (its manifest is
young by then).
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Collection

from nemotron_kit.errors import CorruptRecordError
from nemotron_kit.registry import layout, records
from nemotron_kit.registry.storage import Storage

#: A fence not refreshed for this long belongs to a gc that died: it no longer holds anyone.
LEASE_S = 600.0
#: How often a gc refreshes its fence while it deletes.
REFRESH_S = 60.0


class Fence:
    """A gc's fence: put up with the digests it may delete, refreshed, taken down."""

    def __init__(self, storage: Storage, digests: Collection[str]) -> None:
        self.storage = storage
        self.key = layout.gc_fence(uuid.uuid4().hex)
        self.data = records.dumps(
            records.GcFenceRecord(started_at=time.time(), digests=sorted(digests))
        )
        self.storage.create(self.key, self.data)
        self.refreshed = time.monotonic()

    def refresh(self) -> None:
        """Keep the fence alive (call it often: it writes at most once a ``REFRESH_S``)."""
        if time.monotonic() - self.refreshed >= REFRESH_S:
            self.storage.replace(self.key, self.data)
            self.refreshed = time.monotonic()

    def remove(self) -> None:
        self.storage.delete(self.key)


def _blocking(storage: Storage, digests: Collection[str]) -> list[str]:
    """The live fences that name any of ``digests`` (one that cannot be read names nothing:
    records are untrusted, and a gc writes its fence whole)."""
    wanted = set(digests)
    found = []
    now = time.time()
    for key, mtime in storage.walk(layout.GC):
        if now - mtime > LEASE_S or not key.endswith(".json"):
            continue
        try:
            fence = records.parse(records.GcFenceRecord, storage.read(key), key)
        except (FileNotFoundError, CorruptRecordError):
            continue
        if wanted.intersection(fence.digests):
            found.append(key)
    return found


def wait_for_gc(storage: Storage, digests: Collection[str], where: str) -> bool:
    """Wait while a gc in progress may delete any of ``digests``: True if one might have (the
    caller then stores its data anew), False at once if none stands in the way."""
    fences = _blocking(storage, digests)
    if not fences:
        return False
    print(
        f"waiting for a gc of {where} to end: it may delete content this publish reuses",
        file=sys.stderr,
        flush=True,
    )
    while fences:
        time.sleep(1.0)
        fences = _blocking(storage, digests)
    return True
