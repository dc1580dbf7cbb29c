"""The picture (docs/views.md) of `winnow serve`: bench/screens/serve.png.

    python bench/screens/serve.py [--out bench/screens/serve.png]

Builds a lake from ../shared/data (ingest, gopher and tokens scores, one selection) in a
temporary folder, starts `winnow serve` on it (any free port), types a query into the SQL box
in Debian's Chromium (driven by Playwright, nothing downloaded) and saves the page.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / ".." / "shared" / "data"
TOKENIZER = ROOT / ".." / "shared" / "tokenizers" / "llama-style-sp32k.model"
WINNOW = Path(sys.executable).parent / "winnow"
QUERY = ("SELECT id, source, gopher_mean_word_length AS mean_word_length, left(text, 70) AS text\n"
         "FROM docs WHERE n_tokens >= 100 ORDER BY mean_word_length DESC")


def build(folder: Path):
    import winnow

    lake = winnow.init(folder / "lake")
    winnow.ingest_files(lake, [str(p) for p in sorted(DATA.glob("*.jsonl"))])
    winnow.score(lake, "gopher", workers=1)
    winnow.score(lake, "tokens", params={"tokenizer": str(TOKENIZER)}, workers=1)
    winnow.select(lake, "top", "WITH c AS (SELECT id, n_tokens, gopher_alpha_words_frac AS score FROM docs) "
                               "SELECT * FROM top_k(c, 200000)")
    return lake


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "serve.png")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("WINNOW_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        sys.exit("no Chromium: apt-get install chromium (or set WINNOW_CHROMIUM)")
    with tempfile.TemporaryDirectory() as tmp:
        lake = build(Path(tmp))
        server = subprocess.Popen([str(WINNOW), "serve", lake.uri, "--port", "0", "--max-rows", "12"],
                                  stdout=subprocess.PIPE, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        try:
            line = server.stdout.readline()
            if not line.startswith("serving "):
                sys.exit(f"winnow serve did not start: {line!r}")
            url = line.split(" at ", 1)[1].split()[0]
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
                page = browser.new_page(viewport={"width": 1100, "height": 860}, device_scale_factor=1)
                page.goto(url + "sql")
                page.fill("#sql", QUERY)
                with page.expect_navigation():
                    page.click("#run")
                page.wait_for_selector("#chart svg g.mark-rect path")
                page.screenshot(path=str(args.out))
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
