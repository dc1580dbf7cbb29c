"""A rater's card: the `card.json` that `winnow rater train` writes beside the model it
trained, and that the scorers reading such a folder (`fasttext`, `embedding-head`) check."""

from __future__ import annotations

import json
from pathlib import Path

CARD_FILE = "card.json"


def read_card(path: Path, kind: str, default_kind: str | None = None) -> dict:
    """The card at `path`, a JSON object of `kind` (`default_kind` stands in when the card
    names none); a ValueError says what is wrong."""
    try:
        card = json.loads(Path(path).read_text())
    except ValueError as e:
        raise ValueError(f"model card {path} is not JSON: {e}") from None
    if not isinstance(card, dict):
        raise ValueError(f"model card {path} is not a JSON object")
    if card.get("kind", default_kind) != kind:
        raise ValueError(f"model card {path} is of kind {card.get('kind')!r}, not {kind}")
    return card
