"""``corr2d explore`` as a command: the URL it prints, a busy port, the browser, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from corr2d.cli import main


def start(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "corr2d", "explore", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("corr2d explore: serving on http://127.0.0.1:"), line
    return process, line.split("serving on ", 1)[1].strip()


def stop(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=20)
    return process.returncode, out, err


def get_info(url: str) -> dict:
    parts = urlsplit(url)
    token = parse_qs(parts.query)["token"][0]
    request = urllib.request.Request(
        f"http://{parts.netloc}/api/info", headers={"X-Corr2d-Token": token}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_it_serves_on_loopback_with_a_token_and_stops_cleanly_on_ctrl_c():
    process, url = start("--no-browser")
    try:
        parts = urlsplit(url)
        assert parts.hostname == "127.0.0.1"
        assert len(parse_qs(parts.query)["token"][0]) >= 32
        assert get_info(url)["version"]
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://{parts.netloc}/api/info", timeout=10)
        assert refused.value.code == 403
    finally:
        code, out, err = stop(process)
    assert code == 0
    assert "corr2d explore: stopped" in out
    assert err == ""
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", parts.port), timeout=2).close()


def test_two_servers_get_different_free_ports_and_tokens():
    first, url1 = start("--no-browser")
    second, url2 = start("--no-browser")
    try:
        assert urlsplit(url1).port != urlsplit(url2).port
        assert parse_qs(urlsplit(url1).query) != parse_qs(urlsplit(url2).query)
    finally:
        stop(first)
        stop(second)


def test_a_busy_port_is_one_clear_line(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit) as exited:
            main(["explore", "--port", str(port), "--no-browser"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err == (
        f"corr2d: error: port {port} on 127.0.0.1 is in use; choose another with --port, "
        "or leave it out for a free one\n"
    )


def test_a_given_port_is_used(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process, url = start("--port", str(port), "--no-browser")
    try:
        assert urlsplit(url).port == port
    finally:
        stop(process)


def test_it_opens_the_browser_unless_told_not_to(tmp_path: Path):
    opened = tmp_path / "opened.txt"
    script = tmp_path / "browser.py"
    script.write_text(f"import sys; open({str(opened)!r}, 'w').write(sys.argv[1])\n")
    process, url = start(env={"BROWSER": f"{sys.executable} {script} %s"})
    try:
        deadline = time.monotonic() + 15
        while not opened.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert opened.read_text() == url
    finally:
        stop(process)


def test_help_lists_explore(capsys):
    assert main(["--help"]) == 0
    assert "explore" in capsys.readouterr().out
