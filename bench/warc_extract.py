"""Benchmark HTML-to-text extractors for WARC ingestion: resiliparse vs trafilatura.

What it measures
  * Input: HTTP ``response`` records with an HTML content type, read with fastwarc
    (``auto_decode='all'`` removes chunked transfer / gzip content encoding), decoded
    once (UTF-8 if valid, else HTTP charset, else resiliparse ``detect_encoding`` with
    <meta> lookup, via ``bytes_to_str``). Decoding is not timed.
  * Speed: each extractor alone runs over all records; one untimed warm-up pass, then
    ``--repeats`` timed passes; docs/s and MB/s (of decoded HTML, UTF-8 bytes) come
    from the median pass.
  * Output size: empty extractions, median / mean extracted characters.
  * Quality proxies (pooled over all non-empty output lines):
      short%  lines < 30 chars without terminal punctuation (menus, nav, buttons);
      boiler% lines containing a boilerplate phrase (cookie, login, privacy policy...);
      overlap word-multiset overlap between two extractors' outputs, as a share of
              the first one's words (low = that extractor keeps text the other drops).
  * A side-by-side view of the first 300 characters for 3 records.

Run: .venv/bin/python bench/warc_extract.py [WARC ...]
(default: ../shared/data/warc/*.warc.gz relative to the repository root).
"""

from __future__ import annotations

import argparse
import re
import statistics
import textwrap
import time
from collections import Counter
from pathlib import Path

import trafilatura
from fastwarc.warc import ArchiveIterator, WarcHeader, WarcRecordType
from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.encoding import bytes_to_str, detect_encoding

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_GLOB = ROOT.parent / "shared" / "data" / "warc"
HTML_TYPES = {"text/html", "application/xhtml+xml"}
BOILERPLATE = re.compile(
    r"\b(cookies?|log ?in|sign ?(in|up)|subscribe|privacy policy|terms of (use|service)"
    r"|all rights reserved|skip to (main )?content|menu|share this)\b",
    re.IGNORECASE,
)
TERMINAL = tuple('.!?:;"\')»”')


def read_html_records(paths: list[Path]) -> list[dict]:
    """HTML response records as dicts: id, url, date, html (str), encoding."""
    records = []
    for path in paths:
        it = ArchiveIterator(str(path), record_types=WarcRecordType.response, auto_decode="all")
        for rec in it:
            if rec.http_content_type not in HTML_TYPES:
                continue
            html, encoding = decode_html(rec.reader.read(), rec.http_charset)
            records.append({
                "id": rec.record_id,
                "url": rec.headers.get(WarcHeader.WARC_TARGET_URI, "").strip("<>"),
                "date": rec.record_date,
                "html": html,
                "encoding": encoding,
            })
    return records


def decode_html(body: bytes, http_charset: str | None) -> tuple[str, str]:
    """Valid UTF-8 wins; else HTTP charset; else <meta> charset, then uchardet.

    uchardet alone (``detect_encoding(body)``) mislabels some UTF-8 pages as
    cp1252 / iso8859-7 and produces mojibake, hence the UTF-8 check first.
    """
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        encoding = http_charset or detect_encoding(body, from_html_meta=True)
        return bytes_to_str(body, encoding), encoding


def resiliparse_text(html: str, url: str) -> str:
    return extract_plain_text(html, main_content=True, preserve_formatting=True,
                              alt_texts=False, links=False, form_fields=False, noscript=False)


def trafilatura_text(html: str, url: str) -> str:
    return trafilatura.extract(html, url=url) or ""


def trafilatura_precise_text(html: str, url: str) -> str:
    return trafilatura.extract(html, url=url, favor_precision=True) or ""


EXTRACTORS = {
    "resiliparse": resiliparse_text,
    "trafilatura": trafilatura_text,
    "trafilatura-precision": trafilatura_precise_text,
}


def run_once(fn, records: list[dict]) -> list[str]:
    out = []
    for r in records:
        try:
            out.append(fn(r["html"], r["url"]))
        except Exception:  # a broken page must not stop ingestion; it counts as empty
            out.append("")
    return out


def bench(fn, records: list[dict], repeats: int) -> tuple[list[str], float]:
    """Outputs of a warm-up pass and the median wall time of `repeats` timed passes."""
    outputs = run_once(fn, records)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run_once(fn, records)
        times.append(time.perf_counter() - t0)
    return outputs, statistics.median(times)


def line_stats(texts: list[str]) -> tuple[float, float]:
    """Shares of short menu-like lines and of boilerplate lines over all non-empty lines."""
    lines = [ln.strip() for t in texts for ln in t.splitlines() if ln.strip()]
    if not lines:
        return 0.0, 0.0
    short = sum(len(ln) < 30 and not ln.endswith(TERMINAL) for ln in lines)
    boiler = sum(bool(BOILERPLATE.search(ln)) for ln in lines)
    return short / len(lines), boiler / len(lines)


def overlap(a: list[str], b: list[str]) -> float:
    """Share of a's words (multiset, lowercased) also present in b, pooled over records."""
    shared = total = 0
    for x, y in zip(a, b):
        wx, wy = Counter(re.findall(r"\w+", x.lower())), Counter(re.findall(r"\w+", y.lower()))
        shared += sum((wx & wy).values())
        total += sum(wx.values())
    return shared / total if total else 0.0


def side_by_side(records: list[dict], outputs: dict[str, list[str]], n: int = 3, width: int = 40) -> None:
    picks = sorted({0, len(records) // 2, len(records) - 1})[:n]
    names = list(outputs)
    for i in picks:
        print(f"\n--- record {i}: {records[i]['url']}")
        cols = [textwrap.wrap(re.sub(r"\s*\n\s*", " / ", outputs[k][i][:300]) or "<empty>", width)
                for k in names]
        print(" | ".join(k.ljust(width) for k in names))
        for row in range(max(map(len, cols))):
            print(" | ".join((c[row] if row < len(c) else "").ljust(width) for c in cols))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("warcs", nargs="*", type=Path)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    paths = args.warcs or sorted(DEFAULT_GLOB.glob("*.warc.gz"))
    records = read_html_records(paths)
    if not records:
        raise SystemExit(f"no HTML response records in {[str(p) for p in paths]}")
    mb = sum(len(r["html"].encode("utf-8")) for r in records) / 1e6
    enc = dict(Counter(r["encoding"] for r in records))
    print(f"{len(paths)} WARC files, {len(records)} HTML response records, {mb:.2f} MB HTML, "
          f"encodings {enc}")
    print(f"timing: 1 warm-up pass + median of {args.repeats} passes over all records per extractor\n")

    outputs, rates = {}, {}
    print(f"{'extractor':22} {'recs':>4} {'docs/s':>8} {'MB/s':>6} {'empty':>5} "
          f"{'med_ch':>7} {'mean_ch':>7} {'short%':>6} {'boiler%':>7}")
    for name, fn in EXTRACTORS.items():
        outputs[name], secs = bench(fn, records, args.repeats)
        rates[name] = len(records) / secs
        lens = [len(t) for t in outputs[name]]
        short, boiler = line_stats(outputs[name])
        print(f"{name:22} {len(records):4d} {rates[name]:8.1f} {mb / secs:6.2f} "
              f"{sum(not t.strip() for t in outputs[name]):5d} {statistics.median(lens):7.0f} "
              f"{statistics.mean(lens):7.0f} {100 * short:6.1f} {100 * boiler:7.1f}")

    print("\nword overlap (share of row's words also in column's output):")
    print(" " * 22 + "".join(f"{k:>23}" for k in outputs))
    for a in outputs:
        print(f"{a:22}" + "".join(f"{100 * overlap(outputs[a], outputs[b]):22.1f}%" for b in outputs))

    side_by_side(records, outputs)

    r, t = rates["resiliparse"], rates["trafilatura"]
    fast, slow = ("resiliparse", "trafilatura") if r >= t else ("trafilatura", "resiliparse")
    print(f"\nFASTER: {fast}, {max(r, t) / min(r, t):.1f}x the docs/s of {slow} "
          f"(default settings; {r:.1f} vs {t:.1f} docs/s)")


if __name__ == "__main__":
    main()
