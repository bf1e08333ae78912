"""Optional sign-in (dashboard/auth.py): single-user without an [auth] secret, a closed door with one.

AppTest stands in for the browser: `app.secrets` for .streamlit/secrets.toml and `app.user` for st.user.
"""

from __future__ import annotations

import pytest
import streamlit
from streamlit import config
from streamlit.errors import StreamlitAuthError
from streamlit.runtime.secrets import Secrets

from dashboard import state
from dashboard.auth import SINGLE_USER
from tests.dashboard.conftest import assert_clean, open_page

AUTH = {  # the shape docs/SECURITY.md documents; nothing here is contacted in a test
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "test-only-cookie-secret",
    "client_id": "adaptlab-test",
    "client_secret": "test-only-client-secret",
    "server_metadata_url": "https://id.example.org/.well-known/openid-configuration",
}
ADA = {"is_logged_in": True, "name": "Ada Lovelace", "email": "ada@example.org"}


@pytest.fixture
def worker_starts(monkeypatch):
    """Each time the router or a page would start (or check on) a worker."""
    calls = []
    monkeypatch.setattr(state, "keep_worker_alive", lambda: calls.append("worker") or "off")
    return calls


def open_with(page: str, secrets: dict, user: dict | None = None):
    app = open_page(page, run=False)
    app.secrets.update(secrets)
    if user is not None:
        app.user = user
    return app.run()


def sidebar_text(app) -> str:
    return " ".join(c.value for c in app.sidebar.caption)


def assert_only_the_sign_in_page(app) -> None:
    assert_clean(app)
    assert [t.value for t in app.title] == ["adaptlab"]
    assert [b.label for b in app.button] == ["Sign in"]
    assert not app.metric and not app.selectbox and not app.sidebar.caption and not app.error


def test_without_auth_the_sidebar_says_single_user_and_the_pages_render(worker_starts):
    # another secret, no [auth]: also keeps a developer's own ~/.streamlit/secrets.toml out of the test
    app = open_with("home", {"adaptlab_test": "no auth section"})
    assert_clean(app)
    assert SINGLE_USER in sidebar_text(app)
    assert app.metric[0].label == "Runs will use" and app.button(key="home.demo.fortunes") is not None
    runs = open_with("runs", {"adaptlab_test": "no auth section"})
    assert_clean(runs) and runs.title[0].value == "Runs" and SINGLE_USER in sidebar_text(runs)
    assert worker_starts  # the router (and pages) keep a worker alive for users


def test_without_any_secrets_file_the_app_is_single_user():
    app = open_page("home")  # no app.secrets: Streamlit's own (absent) secrets.toml is read
    assert_clean(app)
    assert SINGLE_USER in sidebar_text(app)


@pytest.mark.parametrize("user", [{"is_logged_in": False}, {"email": "test@example.com"}, {}],
                         ids=["logged-out", "claims-but-no-login", "nothing"])
@pytest.mark.parametrize("page", ["home", "runs", "compare", "experiment"])
def test_with_auth_a_visitor_who_has_not_signed_in_sees_only_the_sign_in_page(page, user, worker_starts):
    app = open_with(page, {"auth": AUTH}, user)
    assert_only_the_sign_in_page(app)
    assert worker_starts == []  # nor does a visitor start a worker


def test_with_auth_a_signed_in_user_sees_the_app_and_their_name_and_email(worker_starts):
    app = open_with("home", {"auth": AUTH}, ADA)
    assert_clean(app)
    assert app.title[0].value == "adaptlab" and app.metric[0].label == "Runs will use"
    assert "Ada Lovelace" in sidebar_text(app) and "ada@example.org" in sidebar_text(app)
    assert SINGLE_USER not in sidebar_text(app)
    assert app.button(key="auth.sign_out").label == "Sign out"
    assert worker_starts


def test_a_user_with_only_an_email_claim_is_shown_by_email():
    app = open_with("runs", {"auth": AUTH}, {"is_logged_in": True, "email": "grace@example.org"})
    assert_clean(app)
    assert "grace@example.org" in sidebar_text(app) and app.title[0].value == "Runs"


def test_signing_out_returns_to_the_sign_in_page():
    app = open_with("home", {"auth": AUTH}, dict(ADA))
    app.button(key="auth.sign_out").click().run()
    assert_clean(app)
    assert app.user.get("is_logged_in") is False
    assert_only_the_sign_in_page(app.run())


def test_a_sign_in_that_cannot_start_says_so_in_words(monkeypatch):
    def broken_login(provider=None):
        raise StreamlitAuthError("To use authentication features you need to install Authlib>=1.3.2.")

    monkeypatch.setattr(streamlit, "login", broken_login)
    app = open_with("home", {"auth": AUTH}, {"is_logged_in": False})
    app.button(key="auth.sign_in").click().run()
    assert_clean(app)
    assert "Sign-in is not set up correctly" in app.error[0].value and "Authlib" in app.error[0].value
    assert "docs/SECURITY.md" in app.error[0].value


def test_an_unreadable_secrets_file_closes_the_app_instead_of_opening_it(tmp_path, monkeypatch, worker_starts):
    broken = tmp_path / "secrets.toml"
    broken.write_text("[auth\nredirect_uri = 'http://localhost:8501/oauth2callback'\n")
    shipped = config.get_option("secrets.files")
    config.set_option("secrets.files", [str(broken)])
    try:
        monkeypatch.setattr(streamlit, "secrets", Secrets())  # a fresh one reads the broken file
        app = open_page("home")
    finally:
        config.set_option("secrets.files", shipped)
    assert_clean(app)
    assert "closed because its sign-in settings cannot be read" in app.error[0].value
    assert str(broken) in app.error[0].value
    assert not app.button and not app.metric and SINGLE_USER not in sidebar_text(app)
    assert worker_starts == []
