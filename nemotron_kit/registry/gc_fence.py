"""The fence between gc and publishes that reuse old content.

gc decides what to delete, then looks at the records and young manifests once more, then
deletes: a publish that reuses content nothing references (a deleted version's, say) and
commits between that last look and the deletes would lose it. So gc first writes the digests
it may delete (``gc/<id>.json``), and only then looks once more; it then narrows the fence to
what it will delete, refreshes it at every step and removes it at its end. A publish that
needs a digest a live fence names waits until none does, then stores its data anew; one that
looked before the fence was up is seen by gc's last look (its manifest is young by then).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Collection

from nemotron_kit.errors import CorruptRecordError, NemotronKitError
from nemotron_kit.registry import layout, records
from nemotron_kit.registry.storage import Storage

#: A fence not refreshed for this long belongs to a gc that died: it no longer holds anyone.
LEASE_S = 600.0
#: How often a gc refreshes its fence (at most).
REFRESH_S = 60.0


class FenceLapsedError(NemotronKitError):
    """gc went longer than its fence's lease without refreshing it (paused, or a request
    that hung): a publish may have taken the fence for a dead gc's."""


class Fence:
    """A gc's fence: put up with the digests it may delete, refreshed, taken down."""

    def __init__(self, storage: Storage, digests: Collection[str]) -> None:
        self.storage = storage
        self.key = layout.gc_fence(os.urandom(16).hex())
        self.started = time.time()
        self.data = self._encode(digests)
        self.refreshed = time.monotonic()
        self.storage.create(self.key, self.data)

    def _encode(self, digests: Collection[str]) -> bytes:
        return records.dumps(
            records.GcFenceRecord(started_at=self.started, digests=sorted(digests))
        )

    def refresh(self) -> None:
        """Keep the fence alive: call it often (at each step of gc; it writes at most once a
        ``REFRESH_S``). Raises if it has gone unrefreshed so long that a publish may have
        taken it for dead: nothing may be deleted then."""
        since = time.monotonic() - self.refreshed
        if since > LEASE_S - REFRESH_S:
            raise FenceLapsedError(
                f"gc stopped before deleting anything more: it went {since:.0f} s without "
                f"refreshing its fence (paused, or a request hung), and after {LEASE_S:.0f} s "
                "a publish takes a fence for a dead gc's; run gc again."
            )
        if since >= REFRESH_S:
            self.storage.replace(self.key, self.data)
            self.refreshed = time.monotonic()

    def narrow(self, digests: Collection[str]) -> bool:
        """Name only ``digests`` from now on (what gc found it will delete after its last
        look): publishes that need the rest go on. False if that is nothing (the fence is
        down)."""
        self.refresh()
        if not digests:
            self.remove()
            return False
        self.data = self._encode(digests)
        self.storage.replace(self.key, self.data)
        self.refreshed = time.monotonic()
        return True

    def remove(self) -> None:
        self.storage.delete(self.key)


def storage_clock(storage: Storage) -> float:
    """The time by the storage's own clock, which stamps the modification times gc and the
    fences go by: an empty probe is written, its time read back, and removed. This machine's
    clock can be minutes off an S3 server's (or an NFS server's), which would make a live
    fence look dead or a young object old. Without write access (a dry run by a reader):
    this machine's clock."""
    key = layout.clock_probe(os.urandom(8).hex())
    try:
        storage.replace(key, b"")
    except (OSError, NemotronKitError):
        return time.time()
    try:
        stamped = [mtime for found, mtime in storage.walk(layout.GC) if found == key]
    finally:
        storage.delete(key)
    return stamped[0] if stamped else time.time()


def _live(age: float) -> bool:
    """A fence whose time is ``age`` seconds before the storage's now is a live gc's: it was
    refreshed within the lease. One from further in the future than a lease was not written
    by a gc (the storage stamps its own time): a planted or damaged time holds no one."""
    return -LEASE_S <= age <= LEASE_S


def dead_fences(storage: Storage, older_than_s: float, now: float) -> list[str]:
    """Fences (and clock probes) not refreshed for ``older_than_s`` (at least twice the
    lease) before ``now`` by the storage's clock, or stamped further ahead than a lease: their
    gc died."""
    limit = max(older_than_s, 2 * LEASE_S)
    return [
        key
        for key, mtime in storage.walk(layout.GC)
        if now - mtime > limit or now - mtime < -LEASE_S
    ]


def _blocking(storage: Storage, digests: Collection[str]) -> list[str]:
    """The live fences that name any of ``digests`` (one that cannot be read names nothing:
    records are untrusted, and a gc writes its fence whole). Ages go by the storage's clock,
    read only when there is a fence at all."""
    wanted = set(digests)
    found: list[str] = []
    fences = [(key, mtime) for key, mtime in storage.walk(layout.GC) if key.endswith(".json")]
    if not fences:
        return found
    now = storage_clock(storage)
    for key, mtime in fences:
        if not _live(now - mtime):
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
        time.sleep(2.0)
        fences = _blocking(storage, digests)
    return True
