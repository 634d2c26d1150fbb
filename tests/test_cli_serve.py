"""``gradstep serve``: it starts the playground on loopback, prints the URL, serves the page, the local
Plotly.js and the API, warns when bound beyond loopback and refuses a bad port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import plotly
import pytest
from typer.testing import CliRunner

from gradstep.cli import app
from gradstep.web.app import LIMITS, SERVER_LIMITS, warn_if_exposed

runner = CliRunner()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_prints_the_url_and_serves_the_page_plotly_and_the_api():
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "gradstep", "serve", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "COLUMNS": "200"})
    try:
        line = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}/" in line, line
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                page = httpx.get(base + "/", timeout=2)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail(f"gradstep serve did not answer on port {port}")
                time.sleep(0.1)
        assert page.status_code == 200 and "<title>" in page.text and "/static/plotly.min.js" in page.text
        js = httpx.get(base + "/static/plotly.min.js", timeout=60)
        local = (plotly.__file__.rsplit("/", 1)[0] + "/package_data/plotly.min.js")
        with open(local, "rb") as f:
            assert js.status_code == 200 and js.content == f.read()
        assert httpx.get(base + "/api/limits", timeout=60).json() == {**LIMITS, **SERVER_LIMITS}
        assert "/api/run" in httpx.get(base + "/openapi.json", timeout=60).json()["paths"]
        for path in ("/docs", "/redoc"):   # FastAPI's pages would load Swagger / ReDoc from a CDN: not served
            assert httpx.get(base + path, timeout=60).status_code == 404
        assert "http://" not in page.text.replace(base, "") and "https://" not in page.text   # nothing from outside
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def test_serve_warns_when_bound_beyond_loopback(monkeypatch):
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: calls.append(k))   # nothing is bound in this test
    result = runner.invoke(app, ["serve", "--host", "0.0.0.0", "--port", "9000"])
    assert result.exit_code == 0, result.output
    assert "0.0.0.0" in result.output and "bind to 127.0.0.1" in result.output
    assert calls == [{"host": "0.0.0.0", "port": 9000, "log_level": "warning"}]


@pytest.mark.parametrize("port", ["0", "70000"])
def test_serve_refuses_a_bad_port(port):
    result = runner.invoke(app, ["serve", "--port", port])
    assert result.exit_code == 2
    assert "--port" in result.output and "65535" in result.output


@pytest.mark.parametrize(("host", "exposed"), [("127.0.0.1", False), ("localhost", False), ("::1", False),
                                               ("127.0.0.2", False), ("0.0.0.0", True), ("192.168.1.5", True),
                                               ("::", True)])
def test_warn_if_exposed(host, exposed):
    assert (warn_if_exposed(host) is not None) is exposed
