"""`preview`: render the HTML, serve it, and re-render on every save; the open page reloads itself.

A writer's loop: edit a template (or a title in experiments.toml), save, look. watchfiles reports changes
to the templates folder, the experiments file (and its reference CSV) and the results folder; the report
is re-rendered in this warm process (torch is never imported; unchanged figures come from the figure
cache), and every open page is told through server-sent events to reload itself, keeping its scroll
position. A template error is shown in the page as file:line and message until the next good save.

The server binds 127.0.0.1 unless asked otherwise, serves only the build folder (no "..", encoded or
not, no absolute paths, nothing that resolves outside it), and renders the PDF when /report.pdf is asked
for — the same file `make render` writes.
"""

from __future__ import annotations

import html
import http.server
import os
import posixpath
import sys
import threading
import time
import traceback
import warnings
from pathlib import Path
from urllib.parse import unquote, urlsplit

from report_builder import paths
from report_builder.config import load_suite
from report_builder.errors import NoPdfWarning, OutputError, ReportBuilderError
from report_builder.report.render import render_report

RELOAD_SCRIPT = """<script>
(function () {
  var key = "report_builder.scroll:" + location.pathname;
  var saved = sessionStorage.getItem(key);
  if (saved !== null) { window.scrollTo(0, parseInt(saved, 10)); sessionStorage.removeItem(key); }
  var source = new EventSource("/__events");
  source.onmessage = function (event) {
    if (event.data === "reload") { sessionStorage.setItem(key, String(window.scrollY)); location.reload(); }
  };
})();
</script>"""
ERROR_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Report preview: error</title>
<style>body {{ font-family: "DejaVu Sans", sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; }}
pre {{ background: #fde8e8; color: #5c1111; padding: 1rem; white-space: pre-wrap; }}</style></head>
<body><main><h1>The report could not be rendered</h1>
<p>Fix it and save: this page reloads itself when the report renders again.</p>
<pre>{message}</pre></main>{script}</body></html>"""


class Preview:
    """The rendered state: the latest render's outcome and a version that rises with every render."""

    def __init__(self, config: Path, results_dir: Path, build_dir: Path, templates_dir: Path | None):
        self.config, self.results_dir, self.build_dir, self.templates_dir = config, results_dir, build_dir, templates_dir
        self.version = 0
        self.error: str | None = None
        self.last_render_seconds = 0.0
        self.changed = threading.Condition()
        self.lock = threading.Lock()

    def render(self, pdf: bool = False) -> None:
        started = time.perf_counter()
        # The lock also keeps catch_warnings (process-wide state) to one render at a time.
        with self.lock, warnings.catch_warnings():
            # A preview asks for no PDF on every save: "no PDF" would be noise; other warnings still show.
            warnings.simplefilter("ignore", NoPdfWarning)
            try:
                suite = load_suite(self.config)
                # The PDF, when asked for, comes with the figure files, as `make render` writes them; an
                # HTML-only preview skips drawing them (their legends hold titles, which a writer edits).
                render_report(suite, self.results_dir, self.build_dir, self.templates_dir, pdf=pdf, partial=True,
                              figure_files=pdf)
                self.error = None
            except ReportBuilderError as e:
                self.error = "\n".join(e.lines())
            except Exception as e:  # a preview survives anything a save can cause, and shows it
                self.error = "".join(traceback.format_exception_only(e)).strip()
        self.last_render_seconds = time.perf_counter() - started
        with self.changed:
            self.version += 1
            self.changed.notify_all()

    def page(self) -> bytes:
        """The report with the reload script, or the error page."""
        if self.error is None:
            try:
                text = paths.build_file(self.build_dir, "report.html").read_text(encoding="utf-8")
                return text.replace("</body>", RELOAD_SCRIPT + "</body>", 1).encode("utf-8")
            except OSError as e:
                self.error = f"cannot read the rendered report: {e}"
        return ERROR_PAGE.format(message=html.escape(self.error), script=RELOAD_SCRIPT).encode("utf-8")

    def watched(self) -> list[Path]:
        found = [self.config, self.results_dir]
        if self.templates_dir is not None:
            found.append(self.templates_dir)
        try:
            reference = load_suite(self.config).reference
            if reference is not None:
                found.append(self.config.parent / reference.source)
        except ReportBuilderError:
            pass
        return [p for p in found if p.exists()]


def safe_target(build_dir: Path, url_path: str) -> Path | None:
    """The file under build_dir that a request names, or None: "..", encoded or not, absolute paths and
    anything that resolves outside build_dir (a link included) are refused."""
    raw = unquote(urlsplit(url_path).path)
    if "\0" in raw or "\\" in raw or raw.startswith("//"):
        return None
    parts = [p for p in raw.split("/") if p]
    if any(p in (".", "..") for p in parts) or posixpath.isabs(raw.lstrip("/")):
        return None
    try:
        target = paths.inside(build_dir, *parts) if parts else None
    except OutputError:
        return None
    if target is None:
        return None
    root = os.path.realpath(build_dir)
    real = os.path.realpath(target)
    if os.path.commonpath([root, real]) != root or not os.path.isfile(real):
        return None
    return Path(real)


CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".pdf": "application/pdf", ".svg": "image/svg+xml",
                 ".png": "image/png", ".csv": "text/csv; charset=utf-8"}


def make_handler(preview: Preview):
    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "report_builder-preview"

        def log_message(self, format, *args):  # the terminal shows the one "serving" line, not every request
            pass

        def _send(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):  # noqa: N802 (the standard library's name)
            route = urlsplit(self.path).path
            if route in ("/", "/report.html", "/index.html"):
                return self._send(200, preview.page(), CONTENT_TYPES[".html"])
            if route == "/__events":
                return self._events()
            if route == "/report.pdf":
                preview.render(pdf=True)
                if preview.error is not None:
                    return self._send(500, preview.error.encode("utf-8"))
            target = safe_target(preview.build_dir, self.path)
            if target is None:
                return self._send(404 if ".." not in unquote(self.path) else 403, b"not found\n")
            self._send(200, target.read_bytes(), CONTENT_TYPES.get(target.suffix, "application/octet-stream"))

        def _events(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            seen = preview.version
            try:
                while True:
                    with preview.changed:
                        preview.changed.wait_for(lambda: preview.version != seen, timeout=15)
                    if preview.version != seen:
                        seen = preview.version
                        self.wfile.write(b"data: reload\n\n")
                    else:
                        self.wfile.write(b": still here\n\n")  # finds out when the page has gone
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                return

    return Handler


class PreviewServer:
    """The HTTP server and the file watcher, each on its own thread; stop() ends both."""

    def __init__(self, preview: Preview, host: str = "127.0.0.1", port: int = 8000):
        self.preview = preview
        try:
            self.httpd = http.server.ThreadingHTTPServer((host, port), make_handler(preview))
        except OSError as e:
            raise OutputError(f"cannot serve on {host}:{port}: {e.strerror or e}; choose another port with --port "
                              f"(--port 0 picks a free one)") from e
        self.httpd.daemon_threads = True
        self.stopping = threading.Event()
        self.watching = threading.Event()
        self.threads = [threading.Thread(target=self.httpd.serve_forever, daemon=True),
                        threading.Thread(target=self._watch, daemon=True)]

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> "PreviewServer":
        self.preview.render()
        for thread in self.threads:
            thread.start()
        self.watching.wait(timeout=10)
        return self

    def _watch(self) -> None:
        import watchfiles

        def relevant(change, path: str) -> bool:
            name = os.path.basename(path)
            return not name.startswith(".") and not name.endswith(("~", ".swp", ".tmp"))

        while not self.stopping.is_set():
            watched = self.preview.watched()
            # An empty batch every rust_timeout: the first one says the watcher is up, so that no save made
            # after "serving" is printed can be missed.
            for changes in watchfiles.watch(*watched, watch_filter=relevant, debounce=30, step=20,
                                            stop_event=self.stopping, rust_timeout=200, yield_on_timeout=True):
                self.watching.set()
                if not changes:
                    continue
                self.preview.render()
                if set(self.preview.watched()) != set(watched):
                    break  # the experiments file now names another reference file: watch it instead

    def stop(self) -> None:
        self.stopping.set()
        if self.threads[0].is_alive():  # shutdown() waits for serve_forever, which a Ctrl-C may have preceded
            self.httpd.shutdown()
        self.httpd.server_close()
        with self.preview.changed:
            self.preview.changed.notify_all()


def serve(config: Path, results_dir: Path, build_dir: Path, templates_dir: Path | None, host: str, port: int) -> int:
    """The `preview` command: serve until Ctrl-C."""
    server = PreviewServer(Preview(config, results_dir, build_dir, templates_dir), host, port)
    # Everything after the port is bound sits in the try, so a Ctrl-C at any moment (even during the first
    # render) stops both threads and ends with the same one line.
    try:
        server.start()
        print(f"serving {server.url}", file=sys.stderr, flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("preview stopped", file=sys.stderr)
        return 0
    finally:
        server.stop()
