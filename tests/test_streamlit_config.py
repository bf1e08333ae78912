"""The dashboard's security settings in .streamlit/config.toml (docs/SECURITY.md explains each one)."""

import tomllib
from pathlib import Path

import pytest

from core.task.data import MAX_FILE_BYTES

ROOT = Path(__file__).parents[1]
CONFIG = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("section, key, expected", [
    ("server", "enableXsrfProtection", True),  # uploads and widget calls carry the XSRF token
    ("server", "enableCORS", True),  # Streamlit's name for CORS *protection*: no Access-Control-Allow-Origin: *
    ("server", "headless", True),
    ("browser", "gatherUsageStats", False),  # no telemetry
    ("client", "showErrorDetails", "none"),  # a crash shows no traceback in the browser
    ("client", "toolbarMode", "viewer"),  # no developer menu
])
def test_security_settings(section, key, expected):
    assert CONFIG[section][key] == expected, f"{section}.{key} in .streamlit/config.toml"


def test_uploads_are_capped_below_what_core_accepts():
    limit_mb = CONFIG["server"]["maxUploadSize"]  # Streamlit's unit: megabytes per file
    assert isinstance(limit_mb, int) and 0 < limit_mb * 1024**2 <= MAX_FILE_BYTES


def test_cross_origin_access_is_not_opened_and_static_serving_is_off():
    assert not CONFIG["server"].get("corsAllowedOrigins")  # a deployment adds its own origin, nothing wider
    assert CONFIG["server"].get("enableStaticServing", False) is False


def test_every_setting_is_one_streamlit_knows():
    """A misspelt key is ignored by Streamlit without a word: the protection it names would be silently off."""
    from streamlit import config

    known = config.get_config_options()
    unknown = [f"{section}.{key}" for section, keys in CONFIG.items() for key in keys
               if f"{section}.{key}" not in known]
    assert not unknown


def test_only_this_machines_host_names_are_served_by_default():
    """DNS rebinding (docs/SECURITY.md): Streamlit's WebSocket check and dashboard/hosts.py read this list."""
    from dashboard.hosts import LOOPBACK

    assert CONFIG["server"]["allowedHosts"] == list(LOOPBACK)
