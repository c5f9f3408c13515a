"""MkDocs hook: publish the benchmark plots from benchmarks/results/ under assets/benchmarks/.

The runner writes its plots next to its JSON results; the docs link the same files rather than
copies that would go stale.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

PLOTS = ("latest.png", "latest-plans.png", "plans.png")


def on_files(files: Files, config: Any) -> Files:
    """Add each benchmark plot that exists to the site's files."""
    results = Path(config["config_file_path"]).parent / "benchmarks" / "results"
    for name in PLOTS:
        path = results / name
        if path.is_file():
            files.append(
                File.generated(config, f"assets/benchmarks/{name}", abs_src_path=str(path))
            )
    return files
