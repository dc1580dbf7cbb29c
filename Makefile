# winnow: `make quickstart` (install, then the whole flow on ../shared/data) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SHARED ?= ../shared
DEMO ?= demo

.PHONY: install chromium test core-smoke quickstart bench clean

# Everything: the core and every extra (pyproject.toml: raters, weights, train, app, ray) and the
# test tools. torch first, pinned to the wheel on local disk (the extras ask for torch >= 2.11,
# which that wheel satisfies; an unpinned requirement would pull a newer multi-GB build).
# `pip install winnow` alone is the light core, without torch (.ci/core-smoke installs and runs it).
$(BIN)/winnow: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.14.1
	$(BIN)/pip install -q -e '.[all,dev]'
	touch $@

install: $(BIN)/winnow

# The browser tests (the report, the web app) drive Debian's headless Chromium: installed here
# when missing and this is root with apt-get, else the target stops at once saying how.
chromium:
	@if [ -n "$$WINNOW_CHROMIUM" ] || command -v chromium >/dev/null || command -v chromium-browser >/dev/null \
		|| command -v google-chrome >/dev/null; then exit 0; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's chromium for the browser tests (apt-get)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "error: the browser tests need Chromium: run  sudo apt-get install chromium  (or set WINNOW_CHROMIUM)" >&2; \
		exit 1; \
	fi

# The whole suite on 2 workers (pytest-xdist: each module on one worker, see tests/conftest.py); the
# tests marked `measure` (recall/precision tables) are reported apart at the end.
test: install chromium
	$(BIN)/python -m pytest -q -n 2 --durations=30 tests

# The wheel with only the light core (no torch), in a fresh virtualenv: the core's verbs on
# ../shared/data, and the one-line refusal of each verb whose extra is missing (CI runs it too,
# also with every dependency at its lower bound: .ci/core-smoke --lowest).
core-smoke:
	bash .ci/core-smoke

quickstart: install
	rm -rf $(DEMO) $(DEMO)-report.html $(DEMO)-shards $(DEMO)-run
	$(BIN)/winnow init $(DEMO)
	$(BIN)/winnow ingest $(DEMO) $(SHARED)/data/openwebtext-1000.jsonl --source openwebtext
	$(BIN)/winnow ingest $(DEMO) $(SHARED)/data/c4-sample-449.jsonl --source c4
	$(BIN)/winnow ingest $(DEMO) $(SHARED)/data/github-sample-50.jsonl --source github
	$(BIN)/winnow ingest $(DEMO) $(SHARED)/data/warc --source common-crawl
	$(BIN)/winnow ingest $(DEMO) $(SHARED)/data  # every file again: all skipped, already ingested
	$(BIN)/winnow info $(DEMO)
	$(BIN)/winnow sql $(DEMO) "SELECT source, count(*) AS docs, round(avg(n_chars)) AS avg_chars, count(url) AS with_url FROM docs GROUP BY source ORDER BY docs DESC"
	$(BIN)/winnow sql $(DEMO) "SELECT id, url, n_chars, left(text, 60) AS starts FROM docs WHERE url ILIKE '%creativecommons%' ORDER BY n_chars DESC LIMIT 5"
	# score: one column per metric, the text never rewritten
	$(BIN)/winnow score $(DEMO) rps gopher lang
	$(BIN)/winnow score $(DEMO) tokens --tokenizer $(SHARED)/tokenizers/llama-style-sp32k.model
	# the same kind of job on Ray: a one-machine cluster here (--ray-address HEAD:6379 for a real one); both engines write the same values
	$(BIN)/winnow score $(DEMO) c4 fineweb --engine ray --workers 2
	$(BIN)/winnow sql $(DEMO) "SELECT source, lang, count(*) AS docs, sum(n_tokens) AS tokens, round(avg(rps_doc_frac_unique_words), 3) AS uniq_words, round(avg(gopher_dup_line_frac), 3) AS dup_lines FROM docs GROUP BY ALL HAVING docs > 5 ORDER BY docs DESC"
	# near-duplicates as columns: MinHash signatures (FineWeb's 14 x 8 bands, word 5-grams), then clusters and a keep flag (nothing deleted)
	$(BIN)/winnow score $(DEMO) minhash
	$(BIN)/winnow dedup $(DEMO) --method minhash --threshold 0.8 --keep-by n_tokens
	$(BIN)/winnow sql $(DEMO) "SELECT source, count(*) AS docs, count(dup_cluster) AS in_a_cluster, count(*) FILTER (WHERE dup_keep) AS kept FROM docs GROUP BY source ORDER BY docs DESC"
	# raters: DCLM's recipe (a fastText rater trained on OpenWebText against C4, validated on a held-out split) and DSIR towards OpenWebText
	$(BIN)/winnow rater train $(DEMO) quality --kind fasttext -p lr=0.5 -p epoch=20 --positive "SELECT text FROM docs WHERE source = 'openwebtext'" --negative "SELECT text FROM docs WHERE source = 'c4'"
	$(BIN)/winnow score $(DEMO) fasttext dsir -p model=$(DEMO)/raters/quality -p target="SELECT text FROM docs WHERE source = 'openwebtext'" -p name=owt
	$(BIN)/winnow sql $(DEMO) "SELECT source, count(*) AS docs, round(avg(quality), 3) AS quality, round(avg(dsir_owt), 1) AS dsir_owt FROM docs GROUP BY source ORDER BY docs DESC"
	# select: a Meta-rater-style and a QuRating-style selection, pinned to this lake version
	$(BIN)/winnow select create $(DEMO) metarater-style --sql sql/examples/quickstart-metarater.sql
	$(BIN)/winnow select create $(DEMO) qurating-style --sql sql/examples/quickstart-qurating.sql --seed 42
	$(BIN)/winnow select preview $(DEMO) metarater-style
	$(BIN)/winnow select diff $(DEMO) metarater-style qurating-style
	# a picture of the lake: one self-contained HTML file (open it in any browser, offline); `winnow serve $(DEMO)` shows the same live
	$(BIN)/winnow report $(DEMO) --selection metarater-style --selection qurating-style --out $(DEMO)-report.html
	# compare: a common held-out set left out of two selections, then tiny trained on the same 8,192 tokens of each (a runs table, a table of ratios, curves.png/html)
	$(BIN)/winnow select create $(DEMO) val --query "SELECT id FROM docs WHERE uniform(id, seed()) < 0.1" --seed 11
	$(BIN)/winnow select create $(DEMO) random-30 --query "SELECT id FROM docs WHERE uniform(id, seed()) < 0.3" --exclude val
	$(BIN)/winnow select create $(DEMO) metarater-top --sql sql/examples/quickstart-metarater.sql --exclude val
	$(BIN)/winnow compare $(DEMO) random-30 metarater-top --flavor tiny --tokens 8192 --validation val --tokenizer $(SHARED)/tokenizers/llama-style-sp32k.model --ngpu 0
	$(BIN)/winnow sql $(DEMO) "SELECT selection, flavor, tokens, len(validation_loss) AS validations, round(tokens_per_second) AS tokens_per_s FROM runs"
	# materialize: token shards for training
	$(BIN)/winnow materialize $(DEMO) metarater-style --out $(DEMO)-shards --tokenizer $(SHARED)/tokenizers/llama-style-sp32k.model --seq-len 256 --shard-tokens 100000 --overwrite
	# train: the real torchtitan Trainer, tiny flavor, on the CPU (the last shard held out for validation loss);
	# on GPUs: --flavor metarater-1.3b (see docs/train.md for multi-node)
	$(BIN)/winnow train $(DEMO) $(DEMO)-shards --flavor tiny --steps 20 --ngpu 0 --out $(DEMO)-run --metrics.disable_color_printing

bench: install
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/score.py
	$(BIN)/python bench/select.py
	$(BIN)/python bench/loader.py
	$(BIN)/python bench/shards.py
	$(BIN)/python bench/raters.py

clean:
	rm -rf $(DEMO) build *.egg-info
