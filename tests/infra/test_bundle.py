"""The Lambda bundle: built with pip for the function's platform, complete, reproducible.

Builds for real: arm64 twice in two empty bundle caches (same bytes?); the
x86_64 platform selection is checked on pip's command line. The platform wheels
are downloaded once per machine into a wheelhouse in the git-ignored
.bundle-cache/ (keyed by the requirements file), then every build installs from
it offline, so the suite does not wait on the index.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import struct
import tempfile
import zipfile
from pathlib import Path

import pytest

from infra import bundle as bundle_module
from infra.bundle import Bundle, BundleError, build_bundle, download_wheels, inputs_hash

ROOT = Path(__file__).resolve().parents[2]
ELF_MACHINE = {"arm64": 0xB7, "x86_64": 0x3E}  # EM_AARCH64, EM_X86_64


@pytest.fixture(scope="session")
def pip_cache() -> Path:
    """pip's download cache, kept across sessions in the (git-ignored) bundle cache
    directory: only the first run on a machine downloads the wheels."""
    path = ROOT / ".bundle-cache" / "pip"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def runtime_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A frozen copy of runtime/: the tree may change while the suite runs."""
    target = tmp_path_factory.mktemp("src") / "runtime"
    shutil.copytree(ROOT / "runtime", target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


REQUIREMENTS = ROOT / "requirements" / "runtime.txt"


def wheelhouse(arch: str, pip_cache: Path) -> Path:
    """The platform wheels of the pinned requirements, downloaded once per machine.
    Filled in a temporary directory and renamed into place, so parallel workers
    (pytest-xdist) never see a half-filled wheelhouse."""
    key = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:16]
    path = ROOT / ".bundle-cache" / "wheels" / f"{arch}-py3.12-{key}"
    if not path.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
            download_wheels(arch, "3.12", Path(tmp) / "wheels", pip_cache_dir=pip_cache)
            with contextlib.suppress(OSError):  # another worker won the race: use theirs
                os.rename(Path(tmp) / "wheels", path)
    return path


def build(arch: str, cache: Path, runtime: Path, pip_cache: Path) -> Bundle:
    return build_bundle(
        arch, "3.12", runtime_dir=runtime, cache_dir=cache, pip_cache_dir=pip_cache,
        wheelhouse=wheelhouse(arch, pip_cache),
    )  # fmt: skip


@pytest.fixture(scope="session")
def arm64_builds(tmp_path_factory, runtime_snapshot, pip_cache) -> tuple[Bundle, Bundle]:
    first = build("arm64", tmp_path_factory.mktemp("cache-a"), runtime_snapshot, pip_cache)
    second = build("arm64", tmp_path_factory.mktemp("cache-b"), runtime_snapshot, pip_cache)
    return first, second


def elf_machine(data: bytes) -> int:
    assert data[:4] == b"\x7fELF"
    return struct.unpack_from("<H", data, 18)[0]


def test_same_inputs_give_the_same_archive_bytes(arm64_builds) -> None:
    first, second = arm64_builds
    assert first.path != second.path  # two independent builds
    assert first.sha256 == second.sha256
    assert first.path.read_bytes() == second.path.read_bytes()


def test_archive_holds_the_runtime_package_and_its_dependencies(arm64_builds) -> None:
    names = set(zipfile.ZipFile(arm64_builds[0].path).namelist())
    for module in ("runtime/__init__.py", "runtime/settings.py", "runtime/handler.py"):
        assert module in names
    for package in ("aioboto3/__init__.py", "aiobotocore/__init__.py", "aiohttp/__init__.py",
                    "aws_lambda_powertools/__init__.py", "botocore/__init__.py"):  # fmt: skip
        assert package in names


def test_native_wheels_are_for_the_target_platform(arm64_builds) -> None:
    """Built on x86_64, the archive holds aarch64 code (x86_64: see the pip command test)."""
    archive = zipfile.ZipFile(arm64_builds[0].path)
    native = [n for n in archive.namelist() if n.endswith(".so")]
    aiohttp_native = [n for n in native if n.startswith("aiohttp/")]
    assert aiohttp_native, "aiohttp's C speedups are missing"
    assert all("cpython-312" in n for n in aiohttp_native)
    for name in native:
        assert elf_machine(archive.read(name)) == ELF_MACHINE["arm64"], name


def test_nothing_machine_specific_or_non_deterministic_is_shipped(arm64_builds) -> None:
    archive = zipfile.ZipFile(arm64_builds[0].path)
    infos = archive.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert not [n for n in names if n.startswith("bin/") or "/bin/" in n.split(".dist-info")[0]]
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".pyo"))]
    assert not [n for n in names if n.endswith(".dist-info/RECORD")]
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {(i.external_attr >> 16) & 0o777 for i in infos} == {0o644}


def test_cached_archive_is_reused_without_pip(
    arm64_builds, runtime_snapshot, pip_cache, monkeypatch
) -> None:
    first = arm64_builds[0]

    def no_pip(*args, **kwargs):
        raise AssertionError("pip ran although the archive is cached")

    monkeypatch.setattr(bundle_module, "_pip_install", no_pip)
    again = build("arm64", first.path.parent, runtime_snapshot, pip_cache)
    assert again == first


def test_cache_key_changes_with_every_input(runtime_snapshot, tmp_path) -> None:
    requirements = ROOT / "requirements" / "runtime.txt"
    base = inputs_hash("arm64", "3.12", requirements, runtime_snapshot)
    assert inputs_hash("x86_64", "3.12", requirements, runtime_snapshot) != base
    assert inputs_hash("arm64", "3.13", requirements, runtime_snapshot) != base
    changed_requirements = tmp_path / "runtime.txt"
    changed_requirements.write_text(requirements.read_text() + "\nrich==15.0.0\n")
    assert inputs_hash("arm64", "3.12", changed_requirements, runtime_snapshot) != base
    edited = tmp_path / "runtime"
    shutil.copytree(runtime_snapshot, edited)
    (edited / "settings.py").write_text((edited / "settings.py").read_text() + "\n# edit\n")
    assert inputs_hash("arm64", "3.12", requirements, edited) != base
    assert inputs_hash("arm64", "3.12", requirements, runtime_snapshot) == base


def test_source_code_hash_is_the_base64_sha256_lambda_reports(arm64_builds) -> None:
    import base64
    import hashlib

    built = arm64_builds[0]
    digest = hashlib.sha256(built.path.read_bytes()).digest()
    assert built.source_code_hash == base64.b64encode(digest).decode()


def test_pip_targets_the_lambda_platform_without_byte_code(monkeypatch, tmp_path) -> None:
    seen: list[list[str]] = []

    def fake_run(command, **kwargs):
        seen.append(command)
        raise SystemExit  # stop before zipping: only the command line matters here

    monkeypatch.setattr(bundle_module.subprocess, "run", fake_run)
    with pytest.raises(SystemExit):
        build_bundle("x86_64", "3.12", cache_dir=tmp_path)
    (command,) = seen
    assert command[1:4] == ["-m", "pip", "install"]
    platforms = [command[i + 1] for i, part in enumerate(command) if part == "--platform"]
    assert platforms[0] == "manylinux2014_x86_64"
    assert all(p.endswith("_x86_64") for p in platforms)
    for flag in ("--only-binary=:all:", "--no-compile", "--target"):
        assert flag in command
    assert command[command.index("--python-version") + 1] == "3.12"
    assert command[command.index("--implementation") + 1] == "cp"
    assert "--no-index" not in command  # from the index unless a wheelhouse is given


def test_unknown_architecture_and_missing_inputs_fail_clearly(tmp_path) -> None:
    with pytest.raises(BundleError, match="architecture"):
        build_bundle("sparc", "3.12", cache_dir=tmp_path)
    with pytest.raises(BundleError, match="requirements"):
        build_bundle("arm64", "3.12", requirements=tmp_path / "nope.txt", cache_dir=tmp_path)


def test_pip_failure_is_reported_with_its_message(tmp_path, runtime_snapshot) -> None:
    requirements = tmp_path / "runtime.txt"
    requirements.write_text("aiohttp === = broken\n")  # fails in pip, before any download
    with pytest.raises(BundleError, match="pip could not install"):
        build_bundle(
            "arm64", "3.12", requirements=requirements, runtime_dir=runtime_snapshot,
            cache_dir=tmp_path / "cache", pip_cache_dir=tmp_path / "pip",
        )  # fmt: skip
