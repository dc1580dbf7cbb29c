"""The picture (docs/views.md) of `winnow report`: bench/screens/report.png.

    python bench/screens/report.py [--out bench/screens/report.png] [--column gopher_alpha_words_frac]

Builds a lake from ../shared/data in a temporary folder (each file its own source, the WARC
samples as `warc`; gopher and tokens scores; two selections), writes `winnow report` with
both selections, opens it in Debian's Chromium (driven by Playwright, nothing downloaded)
and saves one score column's section: its histograms and the first example documents.
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
SOURCES = {"openwebtext-1000.jsonl": "owt", "c4-sample-449.jsonl": "c4", "github-sample-50.jsonl": "github"}


def build(folder: Path):
    import winnow

    lake = winnow.init(folder / "lake")
    for name, source in SOURCES.items():
        winnow.ingest_files(lake, [str(DATA / name)], source=source, workers=1)
    winnow.ingest_files(lake, [str(p) for p in sorted((DATA / "warc").glob("*.warc.gz"))], source="warc", workers=1)
    winnow.score(lake, "gopher", workers=1)
    winnow.score(lake, "tokens", params={"tokenizer": str(TOKENIZER)}, workers=1)
    winnow.select(lake, "top", "WITH c AS (SELECT id, n_tokens, gopher_alpha_words_frac AS score FROM docs) "
                               "SELECT * FROM top_k(c, 300000)")
    winnow.select(lake, "random", "SELECT id, n_tokens FROM docs WHERE uniform(id, seed()) < 0.2", seed=1)
    return lake


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "report.png")
    parser.add_argument("--column", default="gopher_alpha_words_frac")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("WINNOW_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        sys.exit("no Chromium: apt-get install chromium (or set WINNOW_CHROMIUM)")
    with tempfile.TemporaryDirectory() as tmp:
        lake = build(Path(tmp))
        page_file = Path(tmp) / "report.html"
        subprocess.run([str(WINNOW), "report", lake.uri, "--selection", "top", "--selection", "random",
                        "--out", str(page_file)], check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1400, "height": 900}, device_scale_factor=1)
            page.goto(page_file.as_uri())
            page.wait_for_selector("body[data-charts]")
            section = page.locator(f'section.column[data-column="{args.column}"]')
            top = section.evaluate("e => e.getBoundingClientRect().top + window.scrollY")  # in the page
            height = section.evaluate("e => e.getBoundingClientRect().height")
            page.screenshot(path=str(args.out), full_page=True,
                            clip={"x": 0, "y": top, "width": 1400, "height": min(height, 520)})
            browser.close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
