"""First paint of every page in Debian's chromium, on a warm server.

Starts ``streamlit run app.py`` on 127.0.0.1 with a data directory holding the sample photos
(indexed, grouped), opens Home once to warm the server (workspace, imports), then times, for each
page, a fresh tab from navigation to the page's title being drawn; median of ``--repeat`` visits.

    python -m bench.first_paint [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from facelib import Settings, Workspace, expand_paths

ROOT = Path(__file__).resolve().parent.parent
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
PAGES = [("", "facesearch"), ("Index", "Index photos"), ("Search", "Search"), ("Faces", "Faces"),
         ("People", "People"), ("Person", "Person"), ("Photos", "Photos"), ("Compare", "Compare two photos"),
         ("Collections", "Collections")]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    data = Path(tempfile.mkdtemp()) / "data"
    ws = Workspace(Settings(data_dir=data))
    coll = ws.ensure_collection("samples", "local")
    coll.index(expand_paths(sorted((ROOT / "data" / "samples").glob("*.jpg"))), workers=1)
    coll.people.update()
    ws.db.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "FACESEARCH_DATA_DIR": str(data)}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                             "--server.port", str(port), "--server.address", "127.0.0.1",
                             "--browser.gatherUsageStats", "false"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.25)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            warm = browser.new_page()
            warm.goto(url)
            warm.get_by_role("heading", name="facesearch").first.wait_for(timeout=120_000)
            warm.close()
            print(f"machine: {os.cpu_count()} cores; median of {args.repeat} visits, warm server")
            print("| page | first paint (title drawn) s |")
            print("|---|---|")
            for path, title in PAGES:
                times = []
                for _ in range(args.repeat):
                    tab = browser.new_page()
                    t = time.perf_counter()
                    tab.goto(f"{url}/{path}")
                    tab.get_by_role("heading", name=title, exact=True).first.wait_for(timeout=120_000)
                    times.append(time.perf_counter() - t)
                    tab.close()
                print(f"| {path or 'Home'} | {statistics.median(times):.2f} |", flush=True)
            browser.close()
    finally:
        os.killpg(proc.pid, 9)
        proc.wait(10)


if __name__ == "__main__":
    main()
