"""Peer for bench/score.py and bench/select.py: datatrove's quality filters over documents' text.

Usage: python bench/peers/datatrove_filters.py DOCS.jsonl [--decisions OUT.jsonl]

Timing (the default): GopherRepetitionFilter, GopherQualityFilter, C4QualityFilter and
FineWebQualityFilter (datatrove's defaults) run as a datatrove pipeline runs them: in that
order on each document, stopping at the first filter that drops it. A warm-up document
loads the word tokenizer first. Prints one JSON line: documents, seconds (wall),
cpu_seconds (this process), docs/s, kept.

--decisions: each filter's own keep/drop decision for every document (each filter on a
fresh copy of the text, none stopping the others; C4QualityFilter rewrites a kept text),
written to OUT.jsonl as {"id", "gopher_quality_keep", "gopher_repetition_keep",
"c4_quality_keep", "fineweb_quality_keep"} (each a boolean, plus the drop reasons), for
comparing with sql/examples/datatrove-filters.sql.
"""

import json
import sys
import time


def _kept(f, doc) -> tuple[bool, str]:
    result = f.filter(doc)
    return (result[0], result[1]) if isinstance(result, tuple) else (bool(result), "")


def main() -> None:
    from datatrove.data import Document
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )

    rows = [json.loads(line) for line in open(sys.argv[1])]
    filters = {"gopher_repetition_keep": GopherRepetitionFilter(), "gopher_quality_keep": GopherQualityFilter(),
               "c4_quality_keep": C4QualityFilter(), "fineweb_quality_keep": FineWebQualityFilter()}
    for f in filters.values():  # warm-up: the word tokenizer (spaCy) loads on first use, outside the timing
        f.filter(Document(text="A warm-up sentence. And another one.", id="warm-up"))
    if sys.argv[2:3] == ["--decisions"]:
        t0 = time.perf_counter()
        with open(sys.argv[3], "w") as out:
            for i, row in enumerate(rows):
                decision = {"id": row.get("id", str(i))}
                for name, f in filters.items():
                    decision[name], why = _kept(f, Document(text=row["text"], id=str(i)))
                    if why:
                        decision[name.replace("_keep", "_why")] = why
                out.write(json.dumps(decision) + "\n")
        print(json.dumps({"documents": len(rows), "seconds": time.perf_counter() - t0}))
        return
    docs = [Document(text=row["text"], id=str(i)) for i, row in enumerate(rows)]
    t0, c0 = time.perf_counter(), time.process_time()
    kept = 0
    for doc in docs:
        ok = True
        for f in filters.values():
            if not _kept(f, doc)[0]:
                ok = False
                break
        kept += ok
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps({"documents": len(docs), "seconds": seconds, "cpu_seconds": cpu, "docs_per_s": len(docs) / seconds,
                      "kept": kept}))


if __name__ == "__main__":
    main()
