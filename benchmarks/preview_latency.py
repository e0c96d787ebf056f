"""`python -m benchmarks.preview_latency`: how long a save takes to reach the preview, and a fresh render.

In a copy of this project (its experiments.toml, templates and current results), a `preview` server runs
as a user starts it; each trial edits one sentence of a template, or a title in experiments.toml, and
times from the save until the served page shows the change (what the open page then reloads). Then
`render` (HTML + PDF) and `render --no-pdf` as fresh processes. Needs current results in results/.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read().decode("utf-8")


def wait_for(url: str, text: str, timeout: float = 30.0) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if text in fetch(url):
            return time.perf_counter() - started
        time.sleep(0.01)
    raise SystemExit(f"the preview never showed {text!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.preview_latency")
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--results", type=Path, default=REPO_DIR / "results")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        shutil.copy(REPO_DIR / "experiments.toml", project)
        shutil.copytree(REPO_DIR / "reference", project / "reference")
        shutil.copytree(REPO_DIR / "templates", project / "templates")
        shutil.copytree(args.results, project / "results")
        server = subprocess.Popen([sys.executable, "-m", "report_builder", "preview", "--port", "0"], cwd=project,
                                  stderr=subprocess.PIPE, text=True)
        try:
            url = re.search(r"serving (\S+)", server.stderr.readline()).group(1)
            generic = project / "templates" / "groups" / "_generic.html.j2"
            config = project / "experiments.toml"
            latencies = {"template sentence": [], "title in experiments.toml": []}
            for trial in range(args.trials):
                marker = f"Edited sentence number {trial}."
                text = generic.read_text()
                generic.write_text(re.sub(r"(<p>Edited sentence number \d+\.</p>)?\Z", f"<p>{marker}</p>", text, 1))
                latencies["template sentence"].append(wait_for(url, marker))
                title = f"Baseline, take {trial}"
                config.write_text(re.sub(r'(\[experiments\.baseline\]\ntitle = )"[^"]*"', rf'\1"{title}"',
                                         config.read_text()))
                latencies["title in experiments.toml"].append(wait_for(url, title))
        finally:
            server.terminate()
            server.wait()
        fresh = {}
        for label, extra in (("render (HTML + PDF)", []), ("render --no-pdf", ["--no-pdf"])):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "report_builder", "render", *extra], cwd=project, check=True,
                           capture_output=True)
            fresh[label] = time.perf_counter() - started
    print("| change | median s | max s |\n|---|---|---|")
    for label, values in latencies.items():
        print(f"| {label} → page shows it | {statistics.median(values):.2f} | {max(values):.2f} |")
    for label, seconds in fresh.items():
        print(f"| `{label}`, fresh process | {seconds:.2f} | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
