"""A package adds a storage backend for a protocol of its own through the ``nemotron_kit.storage``
entry points, without touching nemotron-kit; it cannot take over a built-in protocol."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

PLUGIN = '''
from nemotron_kit.registry.storage import LocalStorage

class Shelf(LocalStorage):
    """Keys under a local directory named by the URL: shelf://NAME -> $SHELF_DIR/NAME."""

def open_shelf(root, options, timeout_s, attempts):
    import os
    return Shelf(os.path.join(os.environ["SHELF_DIR"], root.split("://", 1)[1]))

def open_hijack(root, options, timeout_s, attempts):
    raise AssertionError("a plugin must not replace a built-in protocol")
'''

USE = """
import sys
from pathlib import Path
from nemotron_kit.artifacts import Artifact
from nemotron_kit.registry import ArtifactRegistry
from nemotron_kit.registry.storage import open_storage

data = Path(sys.argv[1])
data.mkdir()
(data / "a.txt").write_text("shelved")
registry = ArtifactRegistry("shelf://team", hash_cache=False)
print(type(registry.storage).__name__, registry.publish(Artifact(path=str(data)), name="x").uri)
print(registry.load("art://x:v1").path)
print(type(open_storage("s3://bucket/p")).__name__)
"""


def test_a_package_adds_a_protocol_through_entry_points(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "shelf_plugin").mkdir(parents=True)
    (site / "shelf_plugin" / "__init__.py").write_text(PLUGIN)
    dist = site / "shelf_plugin-1.0.dist-info"  # what pip writes for an installed package
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: shelf-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[nemotron_kit.storage]\nshelf = shelf_plugin:open_shelf\ns3 = shelf_plugin:open_hijack\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), str(REPO)]),
        "SHELF_DIR": str(tmp_path / "shelves"),
    }
    result = subprocess.run(
        [sys.executable, "-c", USE, str(tmp_path / "data")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    first, loaded, s3 = result.stdout.splitlines()
    assert first == "Shelf art://x:v1"
    assert (Path(loaded) / "a.txt").read_text() == "shelved"
    assert (tmp_path / "shelves" / "team").is_dir()  # the plugin's storage holds the registry
    assert s3 == "S3Storage"  # the built-in backend, not the plugin's


def test_an_unknown_protocol_names_the_ones_there_are(tmp_path: Path) -> None:
    from nemotron_kit.errors import StorageError
    from nemotron_kit.registry.storage import open_storage

    try:
        open_storage("ftp://host/dir")
    except StorageError as exc:
        message = str(exc)
    else:
        raise AssertionError("ftp:// was accepted")
    assert "'ftp'" in message and "s3://" in message and "nemotron_kit.storage" in message
