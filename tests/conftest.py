"""Test-wide setup: no network, no AWS credentials, Node 22 for jsii, shared fixtures."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


class OutsideRepositoryRead(RuntimeError):
    """A test or the code under test opened a file beside the repository (a user's clone has none)."""


def _outside_repository_guard(repo: Path):
    """An audit hook that refuses to open anything beside the repository.

    A user clones the repository with nothing beside it, so neither the code nor the tests may
    read `../shared` or any other sibling. Every `open` (and directory listing) is audited
    (`sys.addaudithook`). Refused: the parent folder itself, anything under a sibling that was
    there when the session started, and a read of a sibling that does not exist (a missing
    `../shared` is refused by name, not by FileNotFoundError). Allowed: what this session creates
    beside the repository, which happens when the clone sits in the temp folder (`/tmp/clone`):
    jsii's and tempfile's scratch files, and pytest's own `pytest-of-<user>` base folder.
    """
    inside = os.path.join(str(repo), "")
    parent = os.path.join(str(repo.parent), "")
    siblings_at_start = {
        name for name in os.listdir(repo.parent) if name != repo.name and not name.startswith("pytest-of-")
    }
    seen: list[str] = []

    def creates(args: tuple) -> bool:
        mode = args[1] if len(args) > 1 else None
        flags = args[2] if len(args) > 2 else 0
        if isinstance(mode, str):
            return any(letter in mode for letter in "wax")
        if not isinstance(flags, int):
            return False
        unnamed = getattr(os, "O_TMPFILE", 0)  # Linux: includes O_DIRECTORY, so all its bits
        return bool(flags & os.O_CREAT) or (unnamed != 0 and flags & unnamed == unnamed)

    def refused(path: str, args: tuple) -> bool:
        first = path[len(parent) :].split(os.sep, 1)[0]
        if not first:
            # The parent folder itself: listed or read, never; opened to create an unnamed file
            # in it (tempfile.TemporaryFile's O_TMPFILE), yes.
            return not creates(args)
        if first in siblings_at_start:
            return True
        return not os.path.lexists(parent + first) and not creates(args)

    def hook(event: str, args: tuple) -> None:
        if event not in ("open", "os.listdir", "os.scandir") or not args:
            return
        path = args[0]
        if isinstance(path, int) or path is None:
            return
        path = os.path.abspath(os.fsdecode(path))
        folder = os.path.join(path, "")
        if folder.startswith(parent) and not folder.startswith(inside) and refused(path, args):
            seen.append(path)
            raise OutsideRepositoryRead(f"{path} is outside the repository {repo}")

    return hook, seen


_GUARD, OUTSIDE_READS = _outside_repository_guard(REPO)
sys.addaudithook(_GUARD)

# jsii runs the CDK in Node: use the pinned Node 22 from package.json, not the machine's.
os.environ["PATH"] = f"{REPO / 'node_modules' / '.bin'}{os.pathsep}{os.environ.get('PATH', '')}"
os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")

# No test may reach AWS: fake credentials, a fixed region, and no shared config files. The one
# exception is the opt-in live tier (`make test-live` sets VSR_LIVE=1 and selects only tests/live).
_LIVE = os.environ.get("VSR_LIVE") == "1"
for _name in (
    ()
    if _LIVE
    else (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    )
):
    os.environ.pop(_name, None)
os.environ.update(
    {
        **(
            {}
            if _LIVE
            else {
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_REGION": "us-east-1",
                "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                "AWS_EC2_METADATA_DISABLED": "true",
            }
        ),
        # The CLI's rich consoles take their width when first imported: one width for every test,
        # whichever test imports them first (tests that need another width set it themselves).
        "COLUMNS": "200",
        "POWERTOOLS_TRACE_DISABLED": "1",
        "POWERTOOLS_METRICS_NAMESPACE": "vsr-tests",
        "POWERTOOLS_SERVICE_NAME": "vsr-tests",
    }
)


# What pytest-xdist's workers refused (each worker guards its own process; the controller decides).
_WORKER_OUTSIDE_READS: set[str] = set()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """pytest-xdist: collect a finished worker's refused reads (its own exit status is not the run's)."""
    _WORKER_OUTSIDE_READS.update(getattr(node, "workeroutput", {}).get("outside_reads", ()))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A read outside the repository fails the run even when the code under test swallowed the error."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # a pytest-xdist worker: hand the reads to the controller
        workeroutput["outside_reads"] = sorted(set(OUTSIDE_READS))
        return
    reads = set(OUTSIDE_READS) | _WORKER_OUTSIDE_READS
    if reads and session.exitstatus == 0:
        session.exitstatus = 1
        print(f"\nfiles outside the repository were opened: {sorted(reads)}", file=sys.stderr)


@pytest.fixture(autouse=True)
def _fresh_generate_container():
    """Each test is a new world (a new moto account): no Generate verdict carries over from another."""
    from routing.pipeline import generation

    generation._FIRST_BATCHES_PASSED.clear()
    yield


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def writeup_examples_path() -> Path:
    """The public write-up's model answers (kept in the repository: tests read nothing outside it)."""
    return REPO / "tests" / "unit" / "data" / "model_answers_writeup.jsonl"


# The X-Ray SDK (behind Powertools' Tracer) opens its UDP emitter socket when first imported;
# pytest-socket would refuse that inside a test, so it is imported here, before any test runs.
import aws_xray_sdk.core  # noqa: E402, F401


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist the infrastructure tests run on one worker: they share the synthesized app.

    The app is a session fixture (tests/infra/conftest.py), built once per worker that needs it;
    grouping them (`--dist loadgroup`) builds it once, while the other worker runs the rest.
    """
    for item in items:
        if item.nodeid.startswith("tests/infra/"):
            item.add_marker(pytest.mark.xdist_group("synth"))
