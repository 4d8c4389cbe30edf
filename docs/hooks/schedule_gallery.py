"""MkDocs hook: render the schedule plots into the site at build time.

The plots come from ``examples/schedules.py`` (``gallery()``, ``rates()``, ``draw()``,
``draw_gallery()``), so the documentation shows exactly what the example draws:

* ``assets/schedules/gallery.png`` — every schedule in one grid;
* ``assets/schedules/<name>.png`` — one schedule, e.g. ``assets/schedules/cosine.png``.

They are added to the build as generated files (nothing is written to ``docs/``), so
pages link them like any image: ``![cosine](assets/schedules/cosine.png)``. When the
Schedules page does not embed the gallery itself, the hook appends it.
"""

from __future__ import annotations

import importlib.util
import io
import sys
import textwrap
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ASSETS = "assets/schedules"
SCHEDULES_PAGE = "schedules.md"


def _example() -> Any:
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    spec = importlib.util.spec_from_file_location("_schedule_gallery", EXAMPLES / "schedules.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _png(figure: Any) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()


def on_files(files: Files, config: Any) -> Files:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    example = _example()
    shown = example.gallery()
    values = example.rates(shown, example.STEPS)
    images = {"gallery": _png(example.draw_gallery(values))}
    for name, schedule in shown.items():
        figure, ax = plt.subplots(figsize=(4.5, 3), layout="constrained")
        example.draw(name, values[name], ax)
        ax.set_title(textwrap.fill(repr(schedule), 72), fontsize="x-small")
        images[name] = _png(figure)
    for name, content in images.items():
        files.append(File.generated(config, f"{ASSETS}/{name}.png", content=content))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    if page.file.src_uri != SCHEDULES_PAGE or f"{ASSETS}/gallery.png" in markdown:
        return markdown
    return (
        markdown.rstrip()
        + "\n\n## Gallery\n\n"
        + "Every schedule over its first 300 steps, drawn when this site was built by "
        + "`examples/schedules.py` (run it to draw them yourself).\n\n"
        + f"![Every schedule in gradtx.schedules]({ASSETS}/gallery.png)\n"
    )
