"""The Streamlit dashboard: `adaptlab dashboard` (or `streamlit run dashboard/app.py`). Pages live in pages/."""
