"""Packaging: one version, the published metadata, and an sdist whose test suite runs.

The sdist is built from a copy of the source tree (``python -m build --sdist
--no-isolation``, so nothing is downloaded) into ``tmp_path``.
"""

import email.parser
import importlib.metadata
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

import gradtx

ROOT = Path(__file__).resolve().parent.parent

# Not part of the source: environments, caches and build outputs.
_NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", ".torchenv", "site", "build", "dist", "outputs", "results", "*.egg-info",
    "__pycache__", "*.pyc", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis",
)

# Folders the sdist carries whole: the tests with their references and fixtures, the
# examples and benchmarks the tests run, and the documentation sources.
_GRAFTED = ("tests", "examples", "benchmarks", "docs")


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def sdist(tmp_path_factory):
    """(the unpacked sdist folder, the copied source tree it was built from)."""
    tmp = tmp_path_factory.mktemp("sdist")
    source = tmp / "source"
    shutil.copytree(ROOT, source, ignore=_NOT_SOURCE)
    subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(tmp / "dist"),
         str(source)],
        check=True, capture_output=True, text=True, timeout=120,
    )
    (archive,) = (tmp / "dist").glob("gradtx-*.tar.gz")
    with tarfile.open(archive) as tar:
        tar.extractall(tmp / "unpacked", filter="data")
    (unpacked,) = (tmp / "unpacked").iterdir()
    return unpacked, source


def test_version_is_the_installed_distributions():
    assert gradtx.__version__ == importlib.metadata.version("gradtx")


def test_sdist_carries_what_the_tests_need(sdist):
    unpacked, _ = sdist
    files = _files(unpacked)
    for name in ("LICENSE", "README.md", "CHANGELOG.md", "pyproject.toml", "MANIFEST.in",
                 "mkdocs.yml", "gradtx/py.typed", "tests/conftest.py", "tests/paths.py",
                 "tests/reference_numpy.py", "tests/fixtures/torch_trajectories.npz"):
        assert name in files, name


def test_sdist_carries_every_file_of_the_grafted_folders(sdist):
    unpacked, source = sdist
    expected = {f for f in _files(source) if f.split("/", 1)[0] in _GRAFTED}
    assert expected - _files(unpacked) == set()


def test_sdist_metadata_has_the_version_urls_and_classifiers(sdist):
    unpacked, _ = sdist
    metadata = email.parser.Parser().parsestr((unpacked / "PKG-INFO").read_text())
    assert metadata["Version"] == gradtx.__version__
    urls = dict(u.split(", ", 1) for u in metadata.get_all("Project-URL"))
    assert urls == {
        "Homepage": "https://github.com/gradtx/gradtx",
        "Documentation": "https://gradtx.github.io/gradtx",
        "Source": "https://github.com/gradtx/gradtx",
        "Changelog": "https://github.com/gradtx/gradtx/blob/main/CHANGELOG.md",
        "Issues": "https://github.com/gradtx/gradtx/issues",
    }
    classifiers = set(metadata.get_all("Classifier"))
    assert {"Typing :: Typed", "Programming Language :: Python :: 3.11",
            "Development Status :: 3 - Alpha"} <= classifiers
    assert metadata["License-Expression"] == "Apache-2.0"


def test_sdist_test_suite_collects_from_the_unpacked_folder(sdist):
    unpacked, _ = sdist
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "-p", "no:xdist", "tests"],
        cwd=unpacked, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " tests collected" in result.stdout
