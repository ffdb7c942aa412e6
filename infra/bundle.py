"""The inference Lambda's deployment package: reproducible, cross-platform, cached.

Built while ``pulumi up`` runs (the program calls :func:`build_bundle`), from the
pinned requirements/runtime.txt for the function's platform, whatever machine
runs Pulumi: ``pip install --platform manylinux... --only-binary=:all:`` picks
the Lambda platform's wheels (aiohttp, multidict, yarl... ship native code), plus
the project's ``runtime/`` package.

Deterministic: no ``bin/`` (console scripts carry the build machine's
interpreter path), no byte-code, no ``*.dist-info/RECORD`` (it lists the files
just removed, with hashes), entries sorted, fixed timestamps and permissions, so
the same inputs always give the same archive bytes and Pulumi sees no change
(source_code_hash) when nothing changed. The archive is cached in
``.bundle-cache/`` under the hash of its inputs, so repeated ``pulumi up`` runs
do not call pip at all.

Standard library only (no pulumi import): tests and the CLI use it directly.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "requirements" / "runtime.txt"
RUNTIME_PACKAGE = ROOT / "runtime"
CACHE_DIR = ROOT / ".bundle-cache"
BUNDLE_FORMAT = "2"  # bump when the build recipe below changes: invalidates the cache

# Lambda's python3.12+ runtimes run on Amazon Linux 2023 (glibc 2.34), so wheels
# tagged up to manylinux_2_34 run there; manylinux2014 (glibc 2.17) covers the rest.
_PLATFORMS = ("manylinux2014_{arch}", "manylinux_2_28_{arch}", "manylinux_2_34_{arch}")
_PIP_ARCH = {"arm64": "aarch64", "x86_64": "x86_64"}
_FIXED_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can hold
_SKIP_DIRS = {"__pycache__", "bin"}
_SKIP_SUFFIXES = (".pyc", ".pyo")


class BundleError(RuntimeError):
    """The bundle could not be built (pip failed, or an input is missing)."""


@dataclass(frozen=True)
class Bundle:
    path: Path
    sha256: str  # hex digest of the archive bytes
    inputs_hash: str

    @property
    def source_code_hash(self) -> str:
        """Base64 SHA-256, the form Lambda reports as CodeSha256."""
        return base64.b64encode(bytes.fromhex(self.sha256)).decode()


def inputs_hash(
    architecture: str,
    python_version: str,
    requirements: Path = REQUIREMENTS,
    runtime_dir: Path = RUNTIME_PACKAGE,
) -> str:
    """Hash of everything that goes into the archive: the recipe version, the
    platform, the requirements file and every runtime source file (path + bytes)."""
    digest = hashlib.sha256()
    for part in (BUNDLE_FORMAT, architecture, python_version):
        digest.update(part.encode() + b"\0")
    digest.update(requirements.read_bytes() + b"\0")
    for path in _runtime_files(runtime_dir):
        digest.update(path.relative_to(runtime_dir).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def build_bundle(
    architecture: str,
    python_version: str,
    *,
    requirements: Path = REQUIREMENTS,
    runtime_dir: Path = RUNTIME_PACKAGE,
    cache_dir: Path = CACHE_DIR,
    pip_cache_dir: Path | None = None,
    wheelhouse: Path | None = None,
) -> Bundle:
    """Return the cached archive for these inputs, building it first if needed.

    ``wheelhouse``: install only from this directory of wheels (``pip --no-index
    --find-links``), e.g. one filled by :func:`download_wheels`, for offline or
    CI builds; the archive is the same as one built from the index."""
    if architecture not in _PIP_ARCH:
        raise BundleError(f"unknown Lambda architecture {architecture!r}")
    if not requirements.is_file():
        raise BundleError(f"requirements file not found: {requirements}")
    if not (runtime_dir / "__init__.py").is_file():
        raise BundleError(f"runtime package not found: {runtime_dir}")
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bundle-", dir=cache_dir) as tmp:
        # Snapshot the inputs first and hash the snapshot: a file edited during the
        # build can not end up in an archive cached under another content's hash.
        site = Path(tmp) / "site"
        package = site / runtime_dir.name
        shutil.copytree(
            runtime_dir, package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo")
        )
        pinned = Path(tmp) / requirements.name
        shutil.copyfile(requirements, pinned)
        key = inputs_hash(architecture, python_version, pinned, package)
        target = cache_dir / f"lambda-{architecture}-py{python_version}-{key[:20]}.zip"
        if not target.is_file():
            _pip_install(site, architecture, python_version, pinned, pip_cache_dir, wheelhouse)
            partial = Path(tmp) / "bundle.zip"
            write_deterministic_zip(site, partial)
            os.replace(partial, target)  # atomic: readers never see half an archive
    return Bundle(path=target, sha256=_sha256(target), inputs_hash=key)


def write_deterministic_zip(source: Path, archive: Path) -> None:
    """Zip ``source``'s kept files: sorted, fixed dates and permissions, no directories."""
    files = sorted(
        (p for p in source.rglob("*") if p.is_file() and _keep(p.relative_to(source))),
        key=lambda p: p.relative_to(source).as_posix(),
    )
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(source).as_posix(), date_time=_FIXED_DATE)
            # 0644 for every file: Lambda only needs to read them (native .so files
            # are mmapped, not executed), and the build machine's bits do not leak in.
            info.external_attr = (0o100000 | 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, whatever the build machine
            zf.writestr(info, path.read_bytes(), compresslevel=6)


def _keep(relative: Path) -> bool:
    parts = relative.parts
    if any(part in _SKIP_DIRS for part in parts[:-1]):
        return False
    if relative.suffix in _SKIP_SUFFIXES:
        return False
    return not (len(parts) >= 2 and parts[-2].endswith(".dist-info") and parts[-1] == "RECORD")


def _runtime_files(runtime_dir: Path) -> list[Path]:
    return sorted(
        (p for p in runtime_dir.rglob("*") if p.is_file() and _keep(p.relative_to(runtime_dir))),
        key=lambda p: p.relative_to(runtime_dir).as_posix(),
    )


def download_wheels(
    architecture: str,
    python_version: str,
    wheelhouse: Path,
    *,
    requirements: Path = REQUIREMENTS,
    pip_cache_dir: Path | None = None,
) -> None:
    """Fill ``wheelhouse`` with the platform's wheels of the pinned requirements."""
    command = [*_pip("download", architecture, python_version, pip_cache_dir)]
    command += ["--dest", str(wheelhouse), "-r", str(requirements)]
    _run_pip(command, requirements, architecture, python_version)


def _pip(verb: str, architecture: str, python_version: str, cache: Path | None) -> list[str]:
    command = [sys.executable, "-m", "pip", verb, "--quiet", "--disable-pip-version-check"]
    command += ["--only-binary=:all:", "--implementation", "cp", "--python-version", python_version]
    for platform in _PLATFORMS:
        command += ["--platform", platform.format(arch=_PIP_ARCH[architecture])]
    if cache is not None:
        command += ["--cache-dir", str(cache)]
    return command


def _pip_install(
    target: Path,
    architecture: str,
    python_version: str,
    requirements: Path,
    pip_cache_dir: Path | None,
    wheelhouse: Path | None = None,
) -> None:
    command = [*_pip("install", architecture, python_version, pip_cache_dir)]
    command += ["--no-compile", "--target", str(target)]
    if wheelhouse is not None:
        command += ["--no-index", "--find-links", str(wheelhouse)]
    command += ["-r", str(requirements)]
    _run_pip(command, requirements, architecture, python_version)


def _run_pip(
    command: list[str], requirements: Path, architecture: str, python_version: str
) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BundleError(
            f"pip could not install {requirements.name} for {architecture}/py{python_version}:\n"
            f"{result.stderr.strip() or result.stdout.strip()}"
        )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


if __name__ == "__main__":  # python -m infra.bundle [arm64|x86_64] [--download WHEELHOUSE]
    args = sys.argv[1:]
    arch = args[0] if args and not args[0].startswith("-") else "arm64"
    if "--download" in args:
        download_wheels(arch, "3.12", Path(args[args.index("--download") + 1]))
    else:
        built = build_bundle(arch, "3.12")
        print(f"{built.path} sha256={built.sha256}")
