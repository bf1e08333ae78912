"""Optional sign-in for a team deployment: Streamlit's OpenID Connect login (st.login, st.user, st.logout).

With an [auth] section in .streamlit/secrets.toml (docs/SECURITY.md has an example), a visitor who is not
signed in sees only a sign-in page; the pages, the store and the worker are reached after sign-in. Without
one, the dashboard is single-user and says so in the sidebar: anyone who can reach its address can use it.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from streamlit.errors import StreamlitAuthError

KEY = "auth"
SINGLE_USER = ("Single-user mode: anyone who can reach this address can use it. "
               "See docs/SECURITY.md to require sign-in.")


class SignInSetupError(Exception):
    """A secrets file exists but cannot be read, so whether sign-in is required cannot be told."""


def sign_in_required() -> bool:
    """True when the secrets have an [auth] section (the one st.login reads); False when there are no secrets.

    A secrets file that exists but cannot be read raises SignInSetupError: a typo in secrets.toml must close
    the dashboard, not open it to everyone.
    """
    try:
        return "auth" in st.secrets  # even an empty [auth] closes the app: a half-done setup fails closed
    except FileNotFoundError as problem:  # Streamlit's "no secrets" error, also raised for an unreadable file
        present = [path for path in st.get_option("secrets.files") if Path(path).exists()]
        if present:
            raise SignInSetupError(f"{', '.join(present)} could not be read: {problem}") from None
        return False


def signed_in() -> bool:
    # .get: outside a deployment with [auth] (tests, old sessions) st.user may have no is_logged_in at all
    return bool(st.user.get("is_logged_in", False))


def gate() -> bool:
    """Whether this visitor may use the app. When not, the sign-in page is drawn and nothing else should be."""
    try:
        required = sign_in_required()
    except SignInSetupError as problem:
        st.title("adaptlab")
        st.error(f"The dashboard is closed because its sign-in settings cannot be read. {problem}. Whoever runs "
                 "adaptlab can fix the file (docs/SECURITY.md).", icon=":material/lock:")
        return False
    if not required:
        st.sidebar.caption(SINGLE_USER)
        return True
    if not signed_in():
        st.navigation([st.Page(sign_in_page, title="Sign in", icon=":material/login:", url_path="sign-in")],
                      position="hidden").run()
        return False
    _signed_in_as()
    return True


def sign_in_page() -> None:
    st.title("adaptlab")
    st.write("This adaptlab dashboard is shared by a team. Sign in to see its experiments and to run new ones.")
    if st.button("Sign in", key=f"{KEY}.sign_in", type="primary", icon=":material/login:"):
        try:
            st.login()
        except StreamlitAuthError as problem:  # Authlib missing, or the [auth] section incomplete
            st.error(f"Sign-in is not set up correctly on this server: {problem} "
                     "Whoever runs adaptlab can fix it (docs/SECURITY.md).", icon=":material/error:")


def _signed_in_as() -> None:
    who = st.user.get("name") or st.user.get("email") or "signed in"
    email = st.user.get("email")
    with st.sidebar:
        st.caption(f"Signed in as **{who}**" + (f" ({email})" if email and email != who else ""))
        if st.button("Sign out", key=f"{KEY}.sign_out", icon=":material/logout:"):
            st.logout()
