"""The README and the documentation, checked against the code.

* Every ```python block of the README runs on its own, as pasted into a fresh
  interpreter; the blocks of each docs page run in order, one page per namespace.
  A block that is not meant to run (a fragment that needs the reader's model) is
  marked by the line ``<!-- fragment: why -->`` right above its fence.
* Every public name of gradtx and of its subpackages has an entry in the API
  reference (``docs/api/*.md``), and every entry there names a public object.
* Docstrings cross-reference with mkdocstrings' ``[name][gradtx.name]``, not Sphinx roles.
* The site loads its math renderer and scripts from its own files.

The blocks run in one child interpreter (not this one, whose ``conftest.py`` turns on
float64 and eight host devices), so they see what a reader's fresh session sees.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import re
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
MARKER = re.compile(r"^<!-- fragment: (?P<why>\S.*?) -->$")
FENCE_OPEN = re.compile(r"^(?P<fence>`{3,})\s*(?P<lang>[\w-]*)(?P<rest>.*)$")
ROLE = re.compile(r":(class|func|mod|meth|attr|data|obj|exc):`")

# The modules with an API page, and the page each one's names are listed on.
API_MODULES = {
    "gradtx": "gradtx",
    "gradtx.schedules": "schedules",
    "gradtx.initializers": "initializers",
    "gradtx.diagnostics": "diagnostics",
    "gradtx.wrappers": "wrappers",
    "gradtx.flat": "flat",
    "gradtx.experiments": "experiments",
    "gradtx.compat.optax": "compat_optax",
}


def code_blocks(path: Path) -> list[dict]:
    """The fenced code blocks of a Markdown file: language, first line, code, marker."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        match = FENCE_OPEN.match(lines[i])
        if not match:
            i += 1
            continue
        fence, start = match["fence"], i
        body = []
        i += 1
        while i < len(lines) and lines[i].strip() != fence:
            body.append(lines[i])
            i += 1
        marker = MARKER.match(lines[start - 1]) if start else None
        blocks.append(
            {
                "lang": match["lang"],
                "line": start + 1,
                "code": "\n".join(body) + "\n",
                "fragment": marker["why"] if marker else None,
            }
        )
        i += 1
    return blocks


def python_blocks(path: Path) -> list[dict]:
    return [b for b in code_blocks(path) if b["lang"] == "python"]


def doc_pages() -> list[Path]:
    return sorted(p for p in DOCS.glob("*.md") if python_blocks(p))


def units() -> list[dict]:
    """What the child runs: each README block alone, each docs page's blocks together."""
    out = []
    for block in python_blocks(README):
        if block["fragment"] is None:
            out.append({"name": f"README.md:{block['line']}", "blocks": [block]})
    for page in doc_pages():
        runnable = [b for b in python_blocks(page) if b["fragment"] is None]
        out.append({"name": str(page.relative_to(ROOT)), "blocks": runnable})
    return out


def run_units(spec: list[dict]) -> list[dict]:
    """In the child: run each unit in a fresh namespace; report the first failure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = []
    for unit in spec:
        namespace = {"__name__": "__main__"}
        start = time.perf_counter()
        error = None
        for block in unit["blocks"]:
            where = f"{unit['name']} (block at line {block['line']})"
            try:
                exec(compile(block["code"], where, "exec"), namespace)
            except BaseException:  # reported to the parent test, with the block's line
                error = {"line": block["line"], "traceback": traceback.format_exc()}
                break
            finally:
                plt.close("all")
        results.append(
            {"name": unit["name"], "error": error, "seconds": time.perf_counter() - start}
        )
    return results


def test_readme_and_docs_python_blocks_run(tmp_path):
    spec = units()
    assert any(u["name"].startswith("README.md") for u in spec)
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAX_ENABLE_X64")}
    env["MPLBACKEND"] = "Agg"
    env["PYTHONPATH"] = str(ROOT)
    env["TMPDIR"] = str(tmp_path)  # what the blocks write (checkpoints, plots) stays here
    spec_file = tmp_path / "blocks.json"
    spec_file.write_text(json.dumps(spec), encoding="utf-8")
    child = subprocess.run(
        [sys.executable, str(Path(__file__)), str(spec_file)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert child.returncode == 0, child.stderr[-4000:]
    results = json.loads(child.stdout.splitlines()[-1])
    assert [r["name"] for r in results] == [u["name"] for u in spec]
    failures = [
        f"{r['name']}, block at line {r['error']['line']}:\n{r['error']['traceback']}"
        for r in results
        if r["error"]
    ]
    assert not failures, "\n\n".join(failures)


def test_each_fragment_marker_stands_right_above_a_python_block():
    # A block is skipped only for its marker; a marker anywhere else would hide nothing
    # and mislead, so it fails here.
    for path in [README, *sorted(DOCS.glob("*.md"))]:
        lines = path.read_text(encoding="utf-8").splitlines()
        blocks = {b["line"]: b for b in code_blocks(path)}
        for number, line in enumerate(lines, start=1):
            if "<!-- fragment" in line:
                assert MARKER.match(line), f"{path.name}:{number}: malformed marker {line!r}"
                below = blocks.get(number + 1)
                assert below is not None and below["lang"] == "python", (
                    f"{path.name}:{number}: the marker is not right above a python block"
                )


def test_what_is_skipped_is_what_is_marked():
    pages = [README, *doc_pages()]
    blocks = {p: python_blocks(p) for p in pages}
    skipped = {p.name: [b["line"] for b in blocks[p] if b["fragment"]] for p in pages}
    marked = {
        p.name: [
            number + 1
            for number, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1)
            if MARKER.match(line)
        ]
        for p in pages
    }
    assert skipped == marked
    ran = sum(len(u["blocks"]) for u in units())
    total = sum(len(b) for b in blocks.values())
    assert ran + sum(len(v) for v in skipped.values()) == total
    assert not skipped["README.md"], "every README block runs as pasted"
    assert ran > 3 * sum(len(v) for v in skipped.values()), (ran, skipped)


def api_directives() -> dict[str, str]:
    """``::: identifier`` entries of the API pages, with the page each is on."""
    found = {}
    for page in sorted((DOCS / "api").glob("*.md")):
        for line in page.read_text(encoding="utf-8").splitlines():
            if line.startswith("::: "):
                found[line[4:].strip()] = page.stem
    return found


def public_modules() -> dict[str, object]:
    import gradtx

    modules = {name: importlib.import_module(name) for name in API_MODULES}
    for name in gradtx.__all__:
        value = getattr(gradtx, name)
        if inspect.ismodule(value):
            modules[value.__name__] = value
    return modules


def test_every_public_name_has_an_api_entry():
    directives = api_directives()
    missing = [
        f"{module_name}.{name}"
        for module_name, module in public_modules().items()
        for name in module.__all__
        if f"{module_name}.{name}" not in directives
    ]
    assert not missing, f"not on any docs/api/*.md page: {missing}"


def test_every_public_module_has_its_own_api_page_in_the_nav():
    directives = api_directives()
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for module_name in public_modules():
        page = directives.get(module_name)
        assert page is not None, f"{module_name} has no API page"
        assert f"api/{page}.md" in nav, f"api/{page}.md is not in mkdocs.yml's nav"


def test_every_api_entry_names_a_public_object():
    modules = public_modules()
    for identifier in api_directives():
        if identifier in modules:
            continue
        parent, _, name = identifier.rpartition(".")
        assert parent in modules, f"{identifier}: {parent} is not a public module"
        assert name in modules[parent].__all__, f"{identifier} is not in {parent}.__all__"


def test_subpackage_names_resolve():
    import gradtx
    import gradtx.wrappers

    for module in public_modules().values():
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name} is listed but missing"
    assert gradtx.wrappers.masked is gradtx.masked
    assert gradtx.wrappers.accumulate_gradients is gradtx.accumulate_gradients


def test_docstrings_use_cross_references_not_sphinx_roles():
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted((ROOT / "gradtx").rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if ROLE.search(line)
    ]
    assert not offenders, "\n".join(offenders)


def test_site_assets_are_bundled():
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assets = re.findall(r"^\s+- (assets/\S+\.(?:js|css))\s*$", config, flags=re.M)
    assert any("katex.min.js" in a for a in assets) and any("katex.min.css" in a for a in assets)
    for asset in assets:
        assert (DOCS / asset).is_file(), f"mkdocs.yml loads {asset}, which docs/ lacks"
    css = (DOCS / "assets/katex/katex.min.css").read_text(encoding="utf-8")
    fonts = re.findall(r"url\((fonts/[^)]+)\)", css)
    assert fonts
    for font in fonts:
        assert (DOCS / "assets/katex" / font).is_file(), f"katex.min.css needs {font}"
    assert "https://" not in "".join(re.findall(r"^\s+- (\S+)\s*$", config, flags=re.M))


def test_docs_pages_state_formulas_as_math_not_code():
    # A formula in an indented code block renders as plain text (and overflows);
    # the pages write it as $$ … $$ for KaTeX instead.
    math_symbols = re.compile(r"[←√Σ∇‖⊙]")
    offenders = []
    for page in sorted(DOCS.glob("*.md")):
        fenced = set()
        for block in code_blocks(page):
            fenced.update(range(block["line"], block["line"] + block["code"].count("\n") + 2))
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
            if number not in fenced and line.startswith("    ") and math_symbols.search(line):
                offenders.append(f"{page.name}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_changelog_is_in_the_docs():
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "## [Unreleased]" in changelog
    assert '--8<-- "CHANGELOG.md"' in (DOCS / "changelog.md").read_text(encoding="utf-8")
    assert "changelog.md" in (ROOT / "mkdocs.yml").read_text(encoding="utf-8")


if __name__ == "__main__":
    # Run as the child: the blocks import what a reader has, not modules from tests/.
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]
    print(json.dumps(run_units(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8")))))
