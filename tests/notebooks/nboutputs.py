"""What an executed notebook must not show: a figure twice in one cell, or a bare matplotlib repr."""

from __future__ import annotations

import re

STRAY_REPR = re.compile(r"<(matplotlib\.[\w.]+ (object )?at 0x[0-9a-f]+|Figure size [\d.x]+ with \d+ Axes)>|"
                        r"^\[<matplotlib\.", re.M)


def display_problems(nb) -> list[str]:
    """One line per cell that shows the same image twice or prints a ``<matplotlib...>`` repr."""
    problems = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        images: list[str] = []
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            text = data.get("text/plain", "") if out.get("output_type") in ("execute_result", "display_data") else ""
            text = "".join(text) if isinstance(text, list) else text
            # a drawn figure carries "<Figure size ...>" as its text fallback beside the image: fine
            if STRAY_REPR.search(text) and not any(k.startswith("image/") for k in data):
                problems.append(f"cell {index}: stray repr {text.strip()[:80]!r} (end the line with ';')")
            png = data.get("image/png")
            if png:
                png = "".join(png) if isinstance(png, list) else png
                if png in images:
                    problems.append(f"cell {index}: the same figure is shown twice (a Figure returned to the last line?)")
                images.append(png)
    return problems
