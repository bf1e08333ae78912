"""The dashboard's server: `adaptlab dashboard`, or `streamlit run dashboard/web.py`.

Streamlit's own server running dashboard/app.py, with dashboard.hosts.HostCheck in front of every request, HTTP
and WebSocket, so another web site cannot reach it by DNS rebinding (docs/SECURITY.md). `streamlit run` finds
`app` below and serves it; `streamlit run dashboard/app.py` would serve the same pages without the HTTP check."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `dashboard` importable from a plain checkout

import streamlit as st
from starlette.middleware import Middleware

from dashboard.hosts import HostCheck

app = st.App("app.py", middleware=[Middleware(HostCheck)])
