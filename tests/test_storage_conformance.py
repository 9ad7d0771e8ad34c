"""The storage conformance suite (nemotron_kit.registry.testing) on every backend: local disk,
memory, S3 (moto's server), Azure Blob (Azurite) and Google Cloud Storage (fake-gcs-server)."""

from __future__ import annotations

import errno
import json
import os
import stat
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from nemotron_kit.registry.testing import StorageSuite, fresh_prefix
from tests.conftest import needs


class TestLocal(StorageSuite):
    def make_root(self, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
        return tmp_path / "registry", {}  # a Path, as a local backend's suite would give

    @pytest.mark.parametrize("unnamed", [True, False], ids=["O_TMPFILE", "named"])
    def test_local_objects_are_read_only_and_leave_no_temporary_file(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unnamed: bool
    ) -> None:
        """Stored, refused and replaced: only the objects themselves are left, read-only. The
        second case stands in for a filesystem without unnamed files (NFS): ``O_TMPFILE`` is
        refused as NFS refuses it, and objects go by named temporary files."""
        if not unnamed:
            real_open = os.open

            def no_tmpfile(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
                if flags & os.O_TMPFILE == os.O_TMPFILE:
                    raise OSError(errno.EOPNOTSUPP, "Operation not supported")
                return real_open(path, flags, *args, **kwargs)

            monkeypatch.setattr(os, "open", no_tmpfile)
        storage = self.storage(tmp_path)
        keys = [f"objects/{i:02x}/{i:064x}" for i in range(8)]
        for key in keys:
            assert storage.store_object(key, key.encode(), exclusive=True)
            assert not storage.store_object(key, b"other", exclusive=True)
        storage.store_object(keys[0], b"mended")
        root = tmp_path / "registry"
        files = sorted(p for p in (root / "objects").rglob("*") if p.is_file())
        assert [str(p.relative_to(root)) for p in files] == keys
        assert {stat.S_IMODE(p.stat().st_mode) for p in files} == {0o444}
        assert storage.read(keys[0]) == b"mended" and storage.read(keys[1]) == keys[1].encode()


class TestMemory(StorageSuite):
    processes = False

    def make_root(self, tmp_path: Path) -> tuple[str, dict[str, Any]]:
        return f"memory://{fresh_prefix()}", {}


@pytest.mark.slow
@needs("s3")
class TestS3(StorageSuite):
    @pytest.fixture(autouse=True)
    def _bucket(self, s3_bucket: str, s3_endpoint: str) -> None:
        self.bucket, self.endpoint = s3_bucket, s3_endpoint

    def make_root(self, tmp_path: Path) -> tuple[str, dict[str, Any]]:
        return f"s3://{self.bucket}/{fresh_prefix()}", {"endpoint_url": self.endpoint}


@pytest.mark.slow
@needs("azurite")
class TestAzure(StorageSuite):
    @pytest.fixture(autouse=True)
    def _container(self, azurite: str) -> None:
        from azure.storage.blob import BlobServiceClient

        self.container = fresh_prefix()
        with BlobServiceClient.from_connection_string(azurite) as client:
            client.create_container(self.container)

    def make_root(self, tmp_path: Path) -> tuple[str, dict[str, Any]]:
        return f"az://{self.container}/{fresh_prefix()}", {}


@pytest.mark.slow
@needs("gcs")
class TestGCS(StorageSuite):
    @pytest.fixture(autouse=True)
    def _bucket(self, gcs_endpoint: str) -> None:
        self.bucket, self.endpoint = fresh_prefix(), gcs_endpoint
        request = urllib.request.Request(
            f"{gcs_endpoint}/storage/v1/b?project=test",
            data=json.dumps({"name": self.bucket}).encode(),
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=30).close()

    def make_root(self, tmp_path: Path) -> tuple[str, dict[str, Any]]:
        return f"gs://{self.bucket}/{fresh_prefix()}", {"endpoint_url": self.endpoint}
