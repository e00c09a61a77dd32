"""Issue 22, item 5: Streamlit's upload endpoint takes no file before sign-in, and its size limit is
no higher than the app's own. A real ``streamlit run`` on 127.0.0.1 and chromium: the page's own
session id (from the websocket) and XSRF cookie, then a PUT to /_stcore/upload_file."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from conftest import ROOT
from test_e2e import ARGS, CHROMIUM, free_port, streamlit_app

from facelib import Settings

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")

PUT = """async ([sessionId, xsrf, size]) => {
  const form = new FormData();
  form.append("file", new Blob([new Uint8Array(size)], {type: "image/jpeg"}), "x.jpg");
  const r = await fetch(`/_stcore/upload_file/${sessionId}/f-1`, {method: "PUT", body: form,
                                                                 headers: {"X-Xsrftoken": xsrf}});
  return r.status;
}"""


def test_streamlit_takes_no_upload_larger_than_the_app_does():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] <= Settings().upload_max_mb


def put_from_the_page(url: str) -> int:
    """Open the app in chromium (the sign-in page when a login is configured), then PUT 1 MB from
    that page with its session id and XSRF cookie, as its own uploader would; the HTTP status."""
    from playwright.sync_api import sync_playwright
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    sessions: list[str] = []

    def on_socket(ws) -> None:
        def frame(payload) -> None:
            if isinstance(payload, bytes):
                msg = ForwardMsg()
                try:
                    msg.ParseFromString(payload)
                except Exception:  # noqa: BLE001 - another frame
                    return
                if msg.WhichOneof("type") == "new_session" and msg.new_session.initialize.session_id:
                    sessions.append(msg.new_session.initialize.session_id)
        ws.on("framereceived", frame)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            page.on("websocket", on_socket)
            page.goto(url)
            page.get_by_text("facesearch").first.wait_for(timeout=60_000)
            page.wait_for_timeout(500)
            assert sessions, "no session id seen on the websocket"
            xsrf = next(c["value"] for c in page.context.cookies() if c["name"] == "_streamlit_xsrf")
            return int(page.evaluate(PUT, [sessions[-1], xsrf, 1024 * 1024]))
        finally:
            browser.close()


def test_no_upload_is_accepted_before_sign_in(tmp_path):
    port = free_port()
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'''[auth]
redirect_uri = "http://127.0.0.1:{port}/oauth2callback"
cookie_secret = "a-long-random-test-cookie-secret-0123456789"
client_id = "c"
client_secret = "s"
server_metadata_url = "http://127.0.0.1:9/.well-known/openid-configuration"
''')
    with streamlit_app(tmp_path / "data", tmp_path / "login.log", "--secrets.files", str(secrets), port=port) as url:
        assert put_from_the_page(url) == 403
    assert "upload refused" in (tmp_path / "login.log").read_text()
    # without a login the app's one user uploads as before (the same PUT is taken)
    with streamlit_app(tmp_path / "data", tmp_path / "open.log") as url:
        assert put_from_the_page(url) == 204
