"""The dashboard's entry point and router, served by dashboard/web.py: `adaptlab dashboard`.

Only routing happens here. Each page is a module in pages/ with a render() function; cached state is
in dashboard/state.py, charts in dashboard/charts.py (the Knowledge page's in
dashboard/knowledge_charts.py), optional sign-in in dashboard/auth.py, and all the
work in core/.
"""

from __future__ import annotations

import sys
from pathlib import Path

# `streamlit run dashboard/app.py` puts dashboard/ on the path, not the project: make `core` and
# `pages` importable from a plain checkout too (pip install -e . does the same).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import streamlit as st

from dashboard import auth, state, ui

# The page icon, served by the dashboard itself: a ":material/...:" one makes the browser fetch the favicon from
# fonts.gstatic.com, which fails offline (tests/dashboard/test_offline.py)
ICON = Path(__file__).resolve().parent / "icon.png"


def main(start: str = "home") -> None:
    st.set_page_config(page_title="adaptlab", page_icon=str(ICON), layout="wide", initial_sidebar_state="auto")
    ui.sidebar_fits_the_window()  # collapsed on a narrow window (Streamlit's "auto" only on a phone's)
    if not auth.gate():  # sign-in is configured and this visitor has not signed in: no page, no worker
        return
    state.keep_worker_alive()
    sections = {section: [ui.page(name, default=name == start) for name in names]
                for section, names in ui.SECTIONS.items()}
    st.navigation(sections).run()


if __name__ == "__main__":
    main()
