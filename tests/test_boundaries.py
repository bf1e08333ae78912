"""Architecture rules that a refactor could break silently."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_core_never_imports_streamlit():
    modules = sorted(".".join(p.relative_to(ROOT).with_suffix("").parts) for p in (ROOT / "core").rglob("*.py"))
    modules = [m.removesuffix(".__init__") for m in modules]
    code = ("import sys; sys.modules['streamlit'] = None\n"  # any import of streamlit now raises ImportError
            + "".join(f"import {m}\n" for m in modules)
            + "assert sys.modules['streamlit'] is None\nprint(len(sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
