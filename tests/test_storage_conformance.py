"""The storage conformance suite (nemotron_kit.registry.testing) on every backend: local disk,
memory, S3 (moto's server), Azure Blob (Azurite) and Google Cloud Storage (fake-gcs-server)."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from nemotron_kit.registry.testing import StorageSuite, fresh_prefix
from tests.conftest import needs


class TestLocal(StorageSuite):
    def make_root(self, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
        return tmp_path / "registry", {}  # a Path, as a local backend's suite would give


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
