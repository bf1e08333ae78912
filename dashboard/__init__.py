"""The Streamlit dashboard: `adaptlab dashboard` (or `streamlit run dashboard/web.py`). Pages live in pages/."""
