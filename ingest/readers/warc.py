"""WARC (.warc, .warc.gz): one document per HTML `response` record.

The HTML is decoded (HTTP charset, else detected) and turned into text by resiliparse's
main-content extractor (see README: chosen over trafilatura for speed at similar quality).
Records of other types (warcinfo, request, metadata) are not documents and are not
counted; a response that is not HTML, or whose page yields no text, is rejected.
"""

from __future__ import annotations

from typing import BinaryIO, Iterator

import zlib

from fastwarc.stream_io import BrotliReader, ChunkedReader
from fastwarc.warc import ArchiveIterator, WarcRecordType
from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.encoding import bytes_to_str, detect_encoding

from .base import Reject

HTML_TYPES = ("text/html", "application/xhtml+xml")


def read(stream: BinaryIO, start_row: int = 0) -> Iterator[tuple[int, dict | Reject]]:
    row = 0
    try:
        for record in ArchiveIterator(stream, record_types=WarcRecordType.response, parse_http=True):
            row += 1
            if row <= start_row:
                continue
            yield row, to_fields(record)
    except Exception as e:  # fastwarc raises plain exceptions on a broken stream
        yield row + 1, Reject.of("corrupt_compression", f"unreadable WARC stream: {e}")


def to_fields(record) -> dict | Reject:
    url = (record.headers.get("WARC-Target-URI") or "").strip("<>") or None
    content_type = (record.http_content_type or "").lower()
    if not content_type.startswith(HTML_TYPES):
        return Reject.of("not_html", f"response is {content_type or 'untyped'}, not HTML: {url}")
    try:
        body = http_body(record)
    except (OSError, zlib.error, ValueError) as e:
        return Reject.of("undecodable_body", f"cannot decode the HTTP body ({e}): {url}")
    charset = record.http_charset
    try:
        html = body.decode(charset) if charset else bytes_to_str(body, detect_encoding(body))
    except (LookupError, UnicodeDecodeError):
        html = bytes_to_str(body, detect_encoding(body))
    text = extract_plain_text(html, main_content=True, alt_texts=False, links=False)
    if not text.strip():
        return Reject.of("no_text", f"no text extracted from the page: {url}", html)
    return {
        "text": text,
        "id": record.record_id.strip("<>"),
        "url": url,
        "warc_date": record.headers.get("WARC-Date"),
        "content_type": record.http_content_type,
    }


def http_body(record) -> bytes:
    """The HTTP payload with transfer and content encodings undone."""
    headers = record.http_headers
    reader = record.reader
    if "chunked" in (headers.get("Transfer-Encoding") or "").lower():
        reader = ChunkedReader(reader)
    encoding = (headers.get("Content-Encoding") or "").lower().strip()
    if encoding == "br":
        reader = BrotliReader(reader)
    body = reader.read()
    if encoding in ("gzip", "x-gzip", "deflate"):
        body = zlib.decompress(body, zlib.MAX_WBITS | 32)  # gzip or zlib header, detected
    return body
