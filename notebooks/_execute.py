"""`make notebooks`: run each notebook (a paired percent-format script) and write it with its outputs as .ipynb."""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent


def main() -> None:
    for script in sorted(p for p in HERE.glob("*.py") if not p.name.startswith("_")):
        notebook = jupytext.read(script)
        NotebookClient(
            notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}
        ).execute()
        nbformat.write(notebook, script.with_suffix(".ipynb"))
        print(f"wrote {script.with_suffix('.ipynb')}")


if __name__ == "__main__":
    main()
