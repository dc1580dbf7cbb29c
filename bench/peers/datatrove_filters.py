"""Peer for bench/select.py: re-selection the way datatrove does it, by running its quality
filters again over the documents' text.

Usage: python bench/peers/datatrove_filters.py DOCS.jsonl
Runs GopherQualityFilter, GopherRepetitionFilter, C4QualityFilter and FineWebQualityFilter
(datatrove's defaults) over every document in one process, after a warm-up document that
loads the word tokenizer, and prints one JSON line: documents, seconds, docs/s, kept.
"""

import json
import sys
import time


def main() -> None:
    from datatrove.data import Document
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )

    docs = [Document(text=json.loads(line)["text"], id=str(i)) for i, line in enumerate(open(sys.argv[1]))]
    filters = [GopherRepetitionFilter(), GopherQualityFilter(), C4QualityFilter(), FineWebQualityFilter()]
    for f in filters:  # warm-up: the word tokenizer (spaCy) loads on first use, outside the timing
        f.filter(Document(text="A warm-up sentence. And another one.", id="warm-up"))
    t0 = time.perf_counter()
    kept = 0
    for doc in docs:
        ok = True
        for f in filters:
            result = f.filter(doc)
            if not (result[0] if isinstance(result, tuple) else result):
                ok = False
                break
        kept += ok
    seconds = time.perf_counter() - t0
    print(json.dumps({"documents": len(docs), "seconds": seconds, "docs_per_s": len(docs) / seconds, "kept": kept}))


if __name__ == "__main__":
    main()
