"""The live preview: a real server on a free port; saves reach the served page, errors show in it, only the
build folder is served, Ctrl-C ends it; in headless Chromium the open page reloads itself.

Every wait is for an event (a line, a page showing a sentence) with conftest's EVENT_TIMEOUT, so a busy
machine only makes the tests slower; processes are started with conftest.spawn, which ends them with
the test whatever happens."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import EVENT_TIMEOUT, REPO_DIR, readline_within, spawn, two_experiment_project
from test_accessibility import CHROMIUM, need_tools

from report_builder.report.preview import Preview, PreviewServer


@pytest.fixture
def project(tmp_path):
    return two_experiment_project(tmp_path, "Preview fixture")


@pytest.fixture
def server(project):
    running = PreviewServer(Preview(project / "experiments.toml", project / "results", project / "build",
                                    project / "templates"), port=0).start()
    yield running
    running.stop()


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=EVENT_TIMEOUT) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, ""


def shows(url: str, text: str, timeout: float = EVENT_TIMEOUT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in get(url)[1]:
            return True
        time.sleep(0.05)
    return False


def append_sentence(project: Path, sentence: str) -> None:
    generic = project / "templates" / "groups" / "_generic.html.j2"
    generic.write_text(generic.read_text() + f"\n<p>{sentence}</p>\n")


def test_the_page_is_the_report_with_a_reload_script(server):
    status, page = get(server.url)
    assert status == 200 and "Preview fixture" in page and 'new EventSource("/__events")' in page
    assert server.url.startswith("http://127.0.0.1:")


def test_a_template_edit_and_a_title_change_reach_the_page(server, project):
    append_sentence(project, "A sentence written just now.")
    assert shows(server.url, "A sentence written just now.")
    config = project / "experiments.toml"
    config.write_text(config.read_text().replace('title = "Other"', 'title = "Renamed setting"'))
    assert shows(server.url, "Renamed setting")


def test_a_broken_template_shows_its_error_and_the_next_good_save_recovers(server, project):
    generic = project / "templates" / "groups" / "_generic.html.j2"
    good = generic.read_text()
    generic.write_text(good + "\n{% if %}\n")
    assert shows(server.url, "The report could not be rendered")
    status, page = get(server.url)
    assert "_generic.html.j2:" in page and "template syntax error" in page and 'EventSource' in page
    generic.write_text(good + "\n<p>Back again.</p>\n")
    assert shows(server.url, "Back again.")


@pytest.mark.parametrize("path", ["../experiments.toml", "%2e%2e/experiments.toml", "..%2fexperiments.toml",
                                  "%2fetc%2fpasswd", "//etc/passwd", ".versions/../../experiments.toml",
                                  "figures/../../results/baseline.json"])
def test_only_the_build_folder_is_served(server, path):
    import http.client

    connection = http.client.HTTPConnection(*server.httpd.server_address[:2], timeout=10)
    connection.request("GET", "/" + path)  # sent as written: no client-side normalisation
    response = connection.getresponse()
    assert response.status in (403, 404)
    assert b"[defaults]" not in response.read()


@pytest.mark.slow  # renders the PDF
def test_figures_and_the_pdf_are_served(server, project):
    from report_builder.report.render import pdf_available

    status, _ = get(server.url + "report.html")
    assert status == 200
    if pdf_available():
        with urllib.request.urlopen(server.url + "report.pdf", timeout=EVENT_TIMEOUT) as response:
            assert response.status == 200 and response.read(4) == b"%PDF"
        assert (project / "build" / "report.pdf").exists()  # the same file `make render` writes


def test_a_taken_port_is_a_clear_message(server, project, capsys):
    from report_builder.cli import main

    port = server.httpd.server_address[1]
    status = main(["preview", "--config", str(project / "experiments.toml"), "--results-dir", str(project / "results"),
                   "--build-dir", str(project / "b2"), "--port", str(port)])
    err = capsys.readouterr().err
    assert status == 2 and f"cannot serve on 127.0.0.1:{port}" in err and "--port 0" in err and "Traceback" not in err


@pytest.mark.slow  # the CLI as a process
def test_ctrl_c_ends_the_preview_cleanly(project):
    # spawn restores SIGINT in the child: started as a background job of a script, the test run (and so
    # the server) would otherwise ignore it. Whether this test passes, fails or times out, the server ends.
    process = spawn([sys.executable, "-m", "report_builder", "preview", "--port", "0"], cwd=project,
                    stderr=subprocess.PIPE, text=True)
    line = readline_within(process.stderr)
    assert line.startswith("serving http://127.0.0.1:")
    assert get(line.split()[1])[0] == 200
    process.send_signal(signal.SIGINT)
    rest = process.communicate(timeout=EVENT_TIMEOUT)[1]
    assert process.returncode == 0 and "preview stopped" in rest and "Traceback" not in rest


def test_ctrl_c_during_the_first_render_ends_the_preview_cleanly(project, monkeypatch, capsys):
    from concurrent.futures import ThreadPoolExecutor

    from report_builder.report import preview

    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(preview.Preview, "render", interrupted)
    # In a thread with a deadline: stopping a server whose loop never started must not wait for that loop.
    with ThreadPoolExecutor(1) as pool:
        status = pool.submit(preview.serve, project / "experiments.toml", project / "results", project / "build",
                             project / "templates", "127.0.0.1", 0).result(timeout=EVENT_TIMEOUT)
    assert status == 0 and "preview stopped" in capsys.readouterr().err


@pytest.mark.slow  # a browser
def test_the_open_page_reloads_itself_in_a_browser(server, project, tmp_path):
    need_tools()
    browser = spawn(["node", "live_reload.mjs", server.url, "Seen without a manual reload.",
                     str(tmp_path / "reloaded.png"), CHROMIUM, str(int(EVENT_TIMEOUT * 1000))],
                    cwd=REPO_DIR / "tests" / "a11y", stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, text=True)
    ready = readline_within(browser.stdout).strip()
    assert ready == "ready", ready or browser.stderr.read()  # "": node ended, and says why on stderr
    append_sentence(project, "Seen without a manual reload.")
    browser.stdin.write("edited\n")
    browser.stdin.flush()
    out, err = browser.communicate(timeout=EVENT_TIMEOUT)
    assert browser.returncode == 0 and "shown" in out, err[-2000:]
    assert (tmp_path / "reloaded.png").stat().st_size > 10_000
