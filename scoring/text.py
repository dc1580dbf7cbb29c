"""Words and sentences split as datatrove splits English: spaCy's tokenizer and sentencizer.

datatrove's Gopher, C4 and FineWeb filters split English text with `spacy.blank("en")` and
spaCy's rule-based sentencizer; that split is most of their cost (the four filters run at
about 25 documents per CPU-second here). This module reproduces it without spaCy: the same
algorithm, re-implemented, over spaCy 3.8's English rules restated below. On the real
documents in ../shared/data, on paragraphs resampled from them and on random text, `words`
gives exactly spaCy's tokens and `sentences` exactly the sentencizer's count
(tests/test_scorer_heuristics.py checks both, and the rules themselves, against spaCy).

The tokenizer, step by step:
1. The text is cut at whitespace (`str.split()`) into chunks; whitespace never enters a
   word (datatrove drops spaCy's whitespace tokens).
2. A chunk that is a special case gives that case's pieces: contractions ("don't" ->
   do n't, "cannot" -> can not, "id" -> i d), abbreviations kept whole ("Calif.", "Ph.D."),
   emoticons (":)"), times ("5pm" -> 5 pm).
3. Otherwise prefixes (one character of opening punctuation, quotes, currency or symbols;
   a run of dots; "US$") and suffixes (closing punctuation, quotes, symbols, "'s", a unit
   or currency after a digit, a period after a lowercase letter, a digit or punctuation,
   or after two capitals) come off both ends, one per round, until none is left or the
   rest is a special case.
4. What is left stays whole if it is a URL or a special case; else it is split at infixes:
   an ellipsis, a symbol, + - * ^ between digits, a period between a lowercase and an
   uppercase letter, a comma between letters, a hyphen or dash after a letter or digit
   before a letter, one of : < > = / after a letter or digit before a letter.
5. Runs of pieces that spell a special case containing punctuation are joined back
   (":" ")" -> ":)", "'" "'" -> "''"; the longest, then the leftmost, first).
Each distinct chunk is split once and its pieces cached (up to CACHE_SIZE chunks). Step 5
runs over the whole text in spaCy, so a special case spelled across a space (never joined)
can keep one inside a chunk from being joined; the few chunks where that could happen are
worked out again with their neighbours (_rejoin).

Letters are spaCy's: `ALPHA`, `LOWER`, `UPPER` below are its hand-made classes (Latin,
Greek, Cyrillic letters by case, and whole blocks of uncased scripts), not Unicode's.
Like spaCy, a very long chunk of punctuation (thousands of "(") takes time quadratic in
its length.

Sentences (C4's count, per kept line): spaCy's sentencizer starts a new sentence at the
first token, after a token that is one sentence-terminal character (SENTENCE_TERMINALS),
that is neither punctuation (every character in a Unicode P* category) nor a terminal. A
whitespace run other than one space is a token (never punctuation) for it.
"""

from __future__ import annotations

import re
import unicodedata
from itertools import chain, compress, count

# ---- character classes ---------------------------------------------------------------


def _span(spec: str) -> list[tuple[int, int]]:
    """'0041-005A 00C0' -> [(0x41, 0x5A), (0xC0, 0xC0)]."""
    out = []
    for part in spec.split():
        lo, _, hi = part.partition("-")
        out.append((int(lo, 16), int(hi or lo, 16)))
    return out


def _chars(cps) -> list[tuple[int, int]]:
    cps = sorted(set(cps))
    out: list[list[int]] = []
    for cp in cps:
        if out and out[-1][1] == cp - 1:
            out[-1][1] = cp
        else:
            out.append([cp, cp])
    return [(a, b) for a, b in out]


def _class(*parts: list[tuple[int, int]]) -> str:
    """A regular-expression character class body for the union of code point ranges."""

    def esc(cp: int) -> str:  # literal characters compile faster than \\u escapes
        return re.escape(chr(cp)) if cp < 0x80 else chr(cp)

    merged: list[list[int]] = []
    for a, b in sorted(r for p in parts for r in p):
        if merged and a <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return "".join(esc(a) if a == b else f"{esc(a)}-{esc(b)}" for a, b in merged)


def _in_category(spans: str, category: str) -> list[tuple[int, int]]:
    return _chars(cp for a, b in _span(spans) for cp in range(a, b + 1) if unicodedata.category(chr(cp)) == category)


def _text(chars: str) -> list[tuple[int, int]]:
    return _chars(map(ord, chars))


# Latin letters by Unicode case, within the blocks spaCy lists (Basic, Latin-1, Extended A-D,
# Additional, fullwidth), plus phonetic and Extended-E letters it counts as lowercase, plus
# Greek, Russian, Ukrainian, Macedonian and Tatar letters.
_LATIN = "0041-005A 0061-007A 00C0-024F 1E00-1EFF 2C60-2C7F A722-A7B9 FF21-FF3A FF41-FF5A"
_LATIN_OTHER_LOWER = _span("0250-02AF 1D00-1D25 1D6B-1D77 1D79-1D9A A7FA AB30-AB5A AB60-AB64")
_LATIN_TITLE = _span("01BB 01C5 01C8 01CB 01F2")  # in ALPHA, neither lower nor upper
_OTHER_LOWER = _text("αβγδεζηθικλμνξοπρςστυφχψωάέίόώήύ") + _span("0430-044F") + _text("ёіїєґѓѕјљњќѐѝәөүҗңһ")
_OTHER_UPPER = _span("0391-03A9 0410-042F") + _text("ΆΈΊΌΏΉΎЁІЇЄҐЃЅЈЉЊЌЀЍӘӨҮҖҢҺ")
# Uncased scripts, whole blocks: Hebrew, Arabic/Persian, Devanagari, Bengali, Tamil..Kannada,
# Sinhala, Hangul Jamo, Ethiopic, CJK radicals..Katakana, CJK, Hangul, presentation forms.
_UNCASED = _span(
    "0591-05F4 0620-064A 066E-06D5 06E5-06FF 0750-077F 08A0-08BD 0900-09FF 0B80-0CFF 0D80-0DFF "
    "1100-11FF 1200-137F 2E80-2FDF 2FF0-30FF 31C0-31EF 3200-4DBF 4E00-9FFF AC00-D7AF F900-FAFF "
    "FB1D-FBB1 FBD3-FD3D FD50-FDC7 FDF0-FDFB FE30-FE4F FE70-FEFC 1EE00-1EEBB 1F200-1F2FF "
    "20000-2A6DF 2A700-2EBEF 2F800-2FA1F")
_LOWER_SPANS = _in_category(_LATIN, "Ll") + _LATIN_OTHER_LOWER + _OTHER_LOWER
_UPPER_SPANS = _in_category(_LATIN, "Lu") + _OTHER_UPPER
LOWER = _class(_LOWER_SPANS, _UNCASED)
UPPER = _class(_UPPER_SPANS, _UNCASED)
ALPHA = _class(_LOWER_SPANS, _UPPER_SPANS, _LATIN_TITLE, _UNCASED)

# Symbols ("icons"): Unicode's So category as of Unicode 11, i.e. without the So characters
# that later Unicode versions added (listed for the Unicode 14 of Python 3.11).
_NEWER_SYMBOLS = set(cp for a, b in _span(
    "166D 2B97 2BC9 2BFF 2E50-2E51 32FF FD40-FD4F FDCF FDFE-FDFF 1019C 11FD5-11FDC 11FE1-11FF1 "
    "1CF50-1CFC3 1D1E9-1D1EA 1E14F 1ED2E 1F10D-1F10F 1F16C-1F16F 1F1AD 1F6D5-1F6D7 1F6DD-1F6DF "
    "1F6FA-1F6FC 1F7E0-1F7EB 1F7F0 1F8B0-1F8B1 1F90C-1F90F 1F93F 1F971-1F972 1F977-1F979 1F97B "
    "1F9A3-1F9AF 1F9BA-1F9BF 1F9C3-1F9CF 1FA00-1FA53 1FA70-1FA74 1FA78-1FA7C 1FA80-1FA86 "
    "1FA90-1FAAC 1FAB0-1FABA 1FAC0-1FAC5 1FAD0-1FAD9 1FAE0-1FAE7 1FAF0-1FAF6 1FB00-1FB92 "
    "1FB94-1FBCA 1F6D8-1F6DC 1F7D9-1F7DF 1FA75-1FA77 1FA87-1FA8F 1FAAD-1FAAF 1FABB-1FABF "
    "1FAC6-1FACF 1FADA-1FADF 1FAE8-1FAEF 1FAF7-1FAFF 1CC00-1CCFF 1CD00-1CEB3") for cp in range(a, b + 1))
_ICON_SPANS = _chars(cp for cp in range(0x20000) if cp not in _NEWER_SYMBOLS and unicodedata.category(chr(cp)) == "So")
ICONS = _class(_ICON_SPANS)
_ICON_CHARS = "".join(chr(cp) for a, b in _ICON_SPANS for cp in range(a, b + 1))

_PUNCT = "…,:;!?¿؟¡()[]{}<>_#*&。？！，、；：～·।،۔؛٪"  # split off either end
_QUOTES = "'\"”“`‘´’‚,„»«「」『』（）〔〕【】《》〈〉\u2329\u232a⟦⟧"  # also either end
_CURRENCY_CHARS = "$£€¥฿₽﷼" + "".join(map(chr, range(0x20A0, 0x20C0)))
_CURRENCY = "|".join([re.escape(c) for c in _CURRENCY_CHARS] + [r"US\$", r"C\$", r"A\$"])
_UNITS = "|".join(sorted(set(
    "km km² km³ m m² m³ dm dm² dm³ cm cm² cm³ mm mm² mm³ ha µm nm yd in ft kg g mg µg t lb oz m/s km/h kmh "
    "mph hPa Pa mbar mb MB kb KB gb GB tb TB T G M K % км км² км³ м м² м³ дм дм² дм³ см см² см³ мм мм² мм³ "
    "нм кг г мг м/с км/ч кПа Па мбар Кб КБ кб Мб МБ мб Гб ГБ гб Тб ТБ "
    "тбكم كم² كم³ م م² م³ سم سم² سم³ مم مم² مم³ كم غرام جرام جم كغ ملغ كوب اكواب".split()), key=len, reverse=True))
# (spaCy's unit list runs "тб" and "كم" together into one unit; so does this one.)

# the characters that, alone, are a prefix / a suffix wherever they stand
_PREFIX_CHARS = frozenset("§%=—–" + _PUNCT + _QUOTES + _CURRENCY_CHARS + _ICON_CHARS)
_SUFFIX_CHARS = frozenset(_PUNCT + _QUOTES + "—–" + _ICON_CHARS)
# closing characters that are a suffix alone wherever they stand (not "…": "……" is one), and
# what a period after which is one
_TAIL_CHARS = _SUFFIX_CHARS - {"…"}
_DOT_AFTER = frozenset("abcdefghijklmnopqrstuvwxyz" + _PUNCT + _QUOTES) - {"…"}
_P = re.escape(_PUNCT)
_Q = re.escape(_QUOTES)
_PREFIX = re.compile(r"\.\.+|US\$|[CA]\$|\+(?![0-9])|[" + re.escape("§%=—–" + _PUNCT + _QUOTES + _CURRENCY_CHARS)
                     + ICONS + "]")
_SUFFIX = re.compile("(?:" + "|".join([
    "……", r"\.\.+", "[" + re.escape(_PUNCT + _QUOTES + "—–") + ICONS + "]", "['’][sS]",
    r"(?<=[0-9])(?:\+|" + _CURRENCY + "|" + _UNITS + ")",
    r"(?<=°[FfCcKk])\.",
    r"(?<=[0-9" + LOWER + r"%²\-+|(?:)" + _P + _Q + r"])\.",
    "(?<=[" + UPPER + "][" + UPPER + r"])\.",
]) + ")$")
_INFIX = re.compile("|".join([
    r"\.\.+", "…", "[" + ICONS + "]",
    r"(?<=[0-9])[+\-*^](?=[0-9-])",
    "(?<=[" + LOWER + _Q + r"])\.(?=[" + UPPER + _Q + "])",
    # after a letter: a comma; after a letter or digit: a dash, : < > = or /; before a letter
    "(?<=[" + ALPHA + "0-9])(?:(?<![0-9]),|-|–|—|--|---|——|~|[:<>=/])(?=[" + ALPHA + "])",
]))
_NAME = r"[A-Za-z0-9\u00a1-\uffff]"
_URL = re.compile(
    r"(?:[\w+\-.]{2,}://)?"                     # scheme
    r"(?:\S+(?::\S*)?@)?"                       # user[:password]@
    r"(?:"
    r"(?!(?:10|127)(?:\.\d{1,3}){3})(?!(?:169\.254|192\.168)(?:\.\d{1,3}){2})"
    r"(?!172\.(?:1[6-9]|2\d|3[0-1])(?:\.\d{1,3}){2})"  # a public IPv4 address ...
    r"(?:[1-9]\d?|1\d\d|2[01]\d|22[0-3])(?:\.(?:1?\d{1,2}|2[0-4]\d|25[0-5])){2}"
    r"(?:\.(?:[1-9]\d?|1\d\d|2[0-4]\d|25[0-4]))"
    r"|(?:(?:" + _NAME + "[A-Za-z0-9\u00a1-\uffff_-]{0,62})?" + _NAME + r"\.)+"  # ... or host names
    r"[" + LOWER + "]{2,63}"                    # and a lowercase top-level domain
    r")(?::\d{2,5})?(?:[/?#]\S*)?$")           # port, path


# ---- special cases ---------------------------------------------------------------------

_EMOTICONS = r"""
:) :-) :)) :-)) :))) :-))) (: (-: =) (= :] :-] [: [-: [= =] :o) (o: :} :-} 8) 8-) (-8 ;) ;-) (; (-;
:( :-( :(( :-(( :((( :-((( ): )-: =( >:( :') :'-) :'( :'-( :/ :-/ =/ =| :| :-| ]= =[ :1 :P :-P :p :-p
:O :-O :o :-o :0 :-0 :() >:o :* :-* :3 :-3 =3 :> :-> :X :-X :x :-x :D :-D ;D ;-D =D xD XD xDD XDD 8D
8-D ^_^ ^__^ ^___^ >.< >.> <.< ._. ;_; -_- -__- v.v V.V v_v V_V o_o o_O O_o O_O 0_o o_0 0_0 o.O O.o O.O
o.o 0.0 o.0 0.o @_@ <3 <33 <333 </3 (^_^) (-_-) (._.) (>_<) (*_*) (¬_¬) ಠ_ಠ ಠ︵ಠ (ಠ_ಠ) ¯\(ツ)/¯
(╯°□°）╯︵┻━┻ ><(((*>
""".split()
_WHOLE = (
    ["\\t", "\\n", "—", "'", '\\")', "<space>", "''", "C++", "ä.", "ö.", "ü."]
    + [c + "." for c in "abcdefghijklmnopqrstuvwxyz"]
    + "'d a.m. Adm. Bros. co. Co. Corp. D.C. Dr. e.g. E.g. E.G. Gen. Gov. i.e. I.e. I.E. Inc. Jr. Ltd. Md. Messrs. Mo. "
      "Mont. Mr. Mrs. Ms. p.m. Ph.D. Prof. Rep. Rev. Sen. St. vs. v.s. Mt. Ak. Ala. Apr. Ariz. Ark. Aug. Calif. Colo. "
      "Conn. Dec. Del. Feb. Fla. Ga. Ia. Id. Ill. Ind. Jan. Jul. Jun. Kan. Kans. Ky. La. Mar. Mass. Mich. Minn. "
      "Miss. N.C. N.D. N.H. N.J. N.M. N.Y. Neb. Nebr. Nev. Nov. Oct. Okla. Ore. Pa. S.C. Sep. Sept. Tenn. Va. "
      "Wash. Wis. 'S 's ‘S ‘s and/or w/o 're 'Cause 'cause 'cos 'Cos 'coz 'Coz 'cuz 'Cuz 'bout ma'am Ma'am "
      "o'clock O'clock em 'em ll 'll nuff 'nuff".split()
    + [w + end for w in ("lovin", "Lovin", "havin", "Havin", "doin", "Doin", "goin", "Goin", "nothin", "Nothin",
                         "nuthin", "Nuthin", "ol", "Ol", "somethin", "Somethin") for end in ("", "'")]
)
# words that look like contractions but are words: never split
_NOT_CONTRACTIONS = {"Ill", "ill", "Its", "its", "Hell", "hell", "Shell", "shell", "Shed", "shed", "were", "Were",
                     "Well", "well", "Whore", "whore"}


def _special_cases() -> dict[str, tuple[str, ...]]:
    """Every special case of spaCy's English tokenizer: the chunk and its pieces."""
    cases: dict[str, tuple[str, ...]] = {w: (w,) for w in _WHOLE + _EMOTICONS}
    for unit in "cfkCFK":
        cases[f"°{unit}."] = ("°", unit, ".")
    split: dict[str, tuple[str, ...]] = {}

    def add(*pieces: str) -> None:
        split["".join(pieces)] = pieces

    def cased(word: str) -> tuple[str, str]:
        return word, word[0].upper() + word[1:]

    # apostrophe forms and their apostrophe-less twins ("I'll" / "Ill", "don't" / "dont")
    def both(word: str, *tails: str) -> None:
        add(word, *tails)
        add(word, *(t.replace("'", "") for t in tails))

    for w in cased("i"):
        both(w, "'m")
        both(w, "'m", "a")
    will_would = (("'ll",), ("'ll", "'ve"), ("'d",), ("'d", "'ve"))
    for pronoun in ("i", "you", "he", "she", "it", "we", "they"):
        for w in cased(pronoun):
            for tails in will_would:
                both(w, *tails)
            if pronoun in ("i", "you", "we", "they"):
                both(w, "'ve")
            if pronoun in ("you", "we", "they"):
                both(w, "'re")
            if pronoun in ("he", "she", "it"):
                both(w, "'s")
    for word in ("who", "what", "when", "where", "why", "how", "there", "that", "this", "these", "those"):
        for w in cased(word):
            for tails in will_would:
                both(w, *tails)
            if word not in ("these", "those"):
                both(w, "'s")
            if word not in ("that", "this"):
                both(w, "'re")
                both(w, "'ve")
    for verb in ("ca", "could", "do", "does", "did", "had", "may", "might", "must", "need", "ought", "sha", "should",
                 "wo", "would"):
        for w in cased(verb):
            both(w, "n't")
            both(w, "n't", "'ve")
    for verb in ("could", "might", "must", "should", "would"):
        for w in cased(verb):
            both(w, "'ve")
    for verb in ("ai", "are", "is", "was", "were", "have", "has", "dare"):
        for w in cased(verb):
            both(w, "n't")
    for hour in range(1, 13):
        for period in ("a.m.", "am", "p.m.", "pm"):
            add(str(hour), period)
    for w in cased("not"):
        both(w, "'ve")
    for pieces in (("y'", "all"), ("y", "all"), ("how", "'d", "'y"), ("How", "'d", "'y"), ("can", "not"),
                   ("Can", "not"), ("gon", "na"), ("Gon", "na"), ("got", "ta"), ("Got", "ta"), ("let", "'s"),
                   ("Let", "'s"), ("c'm", "on"), ("C'm", "on")):
        add(*pieces)
    for word in _NOT_CONTRACTIONS:
        split.pop(word, None)
    cases.update(split)
    # each case with a straight apostrophe also with a typographic one
    for chunk, pieces in list(cases.items()):
        if "'" in chunk:
            cases[chunk.replace("'", "’")] = tuple(p.replace("'", "’") for p in pieces)
    return cases


SPECIAL_CASES = _special_cases()


# ---- the tokenizer -------------------------------------------------------------------


def _affix_split(chunk: str, specials: bool = True) -> list[str]:
    """Steps 3-4 for one chunk (without special cases when `specials` is False)."""
    cases = SPECIAL_CASES if specials else {}
    prefixes: list[str] = []
    suffixes: list[str] = []
    rest = chunk
    size = -1
    while rest and len(rest) != size:
        if rest in cases:
            break
        size = len(rest)
        m = _PREFIX.match(rest)
        pre = m.end() if m else 0
        if pre and rest[pre:] in cases:
            prefixes.append(rest[:pre])
            rest = rest[pre:]
            break
        m = _SUFFIX.search(rest[pre:])  # (lookbehinds do not see the prefix)
        suf = len(rest) - pre - m.start() if m else 0
        if suf and rest[:-suf] in cases:
            suffixes.append(rest[-suf:])
            rest = rest[:-suf]
            break
        if pre and suf and pre + suf <= len(rest):
            prefixes.append(rest[:pre])
            suffixes.append(rest[-suf:])
            rest = rest[pre:-suf]
        elif pre:
            prefixes.append(rest[:pre])
            rest = rest[pre:]
        elif suf:
            suffixes.append(rest[-suf:])
            rest = rest[:-suf]
    pieces = prefixes
    if rest in cases:
        pieces.extend(cases[rest])
    elif rest and _URL.match(rest):
        pieces.append(rest)
    elif rest:
        start = 0
        for m in _INFIX.finditer(rest):
            a, b = m.span()
            if a == 0:
                continue
            if a != start:
                pieces.append(rest[start:a])
            if a != b:
                pieces.append(rest[a:b])
            start = b
        if start < len(rest):
            pieces.append(rest[start:])
    pieces.extend(reversed(suffixes))
    return pieces


def _joins() -> dict[str, list[tuple[str, ...]]]:
    """Step 5: special cases that steps 3-4 split into pieces, by their first piece."""
    out: dict[str, list[tuple[str, ...]]] = {}
    for chunk in SPECIAL_CASES:
        if _PREFIX.match(chunk) or _SUFFIX.search(chunk) or _INFIX.search(chunk):
            pieces = tuple(_affix_split(chunk, specials=False))
            out.setdefault(pieces[0], []).append(pieces)
    return out


_JOINS = _joins()
# The special cases that step 5 joins from pieces. A chunk that contains none of them splits
# into the same words in any context (step 5 is the only step that looks beyond a chunk).
JOINED = frozenset("".join(p) for patterns in _JOINS.values() for p in patterns)
# the same of more than one piece, by their first two pieces (what _taken looks up)
_JOINS_BY_PAIR: dict[tuple[str, str], list[tuple[str, ...]]] = {}
for _patterns in _JOINS.values():
    for _p in _patterns:
        if len(_p) > 1:
            _JOINS_BY_PAIR.setdefault(_p[:2], []).append(_p)


def _taken(pieces: list, chunk_of: list[int] | None = None) -> list[tuple[int, int]]:
    """Step 5's choice among the special cases spelled by runs of `pieces`: (start, end) of
    the runs it joins. spaCy finds the occurrences across the whole text and takes them
    longest first, then leftmost, each unless its first or last piece belongs to one seen
    before (a rejected one's pieces count as seen too); it joins those inside one chunk.
    `chunk_of` gives each piece's chunk (None: all in one); a None piece is a whitespace
    token, which no special case contains."""
    if _JOINS.keys().isdisjoint(pieces):
        return []
    get = _JOINS_BY_PAIR.get
    found = [(i, i + len(p)) for i, pair in enumerate(zip(pieces, pieces[1:])) for p in get(pair, ())
             if len(p) == 2 or tuple(pieces[i:i + len(p)]) == p]
    found.sort(key=lambda m: (m[0] - m[1], m[0]))
    seen: set[int] = set()
    taken = []
    for a, b in found:
        if a not in seen and b - 1 not in seen and (chunk_of is None or chunk_of[a] == chunk_of[b - 1]):
            taken.append((a, b))
        seen.update(range(a, b))
    return sorted(taken)


def _join(pieces: list, taken: list[tuple[int, int]]) -> list:
    out: list = []
    i = 0
    for a, b in taken:
        out += pieces[i:a]
        out += SPECIAL_CASES["".join(pieces[a:b])]
        i = b
    return out + pieces[i:]


def _exposed(pieces: list[str], taken: list[tuple[int, int]]) -> bool:
    """Whether a special case spelled partly in the chunks around these pieces (across a
    space: never joined, but seen in step 5 like any other) could keep a join that changes
    them from happening: it would cover the join's first or last piece and come first."""
    joins = [(a, b) for a, b in taken if SPECIAL_CASES["".join(pieces[a:b])] != tuple(pieces[a:b])]
    n = len(pieces)
    whole = tuple(pieces)
    for patterns in _JOINS.values():
        for p in patterns:
            size = len(p)
            for j in range(1, size):
                inside = size - j
                if inside > n:  # p[j:] runs through these pieces into the next chunk
                    if whole == p[j:j + n] and any(size >= b - a for a, b in joins):
                        return True
                    continue
                if whole[:inside] == p[j:] and any(a < inside and size >= b - a for a, b in joins):
                    return True  # ends in these pieces, from the chunks before
                if whole[n - inside:] == p[:inside] and any(
                        b - 1 >= n - inside and (size > b - a or size == b - a and n - inside < a) for a, b in joins):
                    return True  # starts in these pieces, into the chunks after
    return False


def _pieces(chunk: str) -> list[str]:
    """Steps 2-4 for one chunk."""
    return list(SPECIAL_CASES[chunk]) if chunk in SPECIAL_CASES else _affix_split(chunk)


def split_chunk(chunk: str) -> tuple[str, ...]:
    """spaCy's tokens for one chunk of text without whitespace, alone (not cached)."""
    pieces = _pieces(chunk)
    return tuple(_join(pieces, _taken(pieces)))


_PIECES = re.compile(r"\S+|\s+")  # chunks and whitespace runs
_WHITESPACE = re.compile(r"\s+")
CACHE_SIZE = 200_000  # chunks; about 40 MB. When full, the cache starts over.
_CACHE: dict[str, tuple[str, ...]] = {}
_BEFORE_JOINS: dict[str, tuple[str, ...]] = {}  # a chunk's pieces before step 5, where it changed them
# Chunks whose joins a special case spelled across chunks could prevent (see _exposed):
# where one occurs, its pieces are worked out again with the chunks around it (_rejoin).
_EXPOSED: set[str] = set()
_REACH = max(len(p) for patterns in _JOINS.values() for p in patterns)  # pieces a special case spans


def _pieces_quickly(chunk: str) -> list[str]:
    """_pieces(chunk), for the commonest chunks that are not plain words without the
    regular expressions: a word (letters only) between characters that steps 3-4 always split
    off one at a time, whatever stands next to them: opening ones before it ("(word", "“word"),
    closing ones after it ("word," "word)." "word.”"; a period only after a lowercase a-z or
    one of those). For them steps 3-4 come down to the loop of `_affix_split`, one character
    off each end per round, with its special-case checks, over slices of the chunk."""
    if chunk in SPECIAL_CASES:
        return list(SPECIAL_CASES[chunk])
    n = len(chunk)
    i = 0
    while i < n and chunk[i] in _PREFIX_CHARS:
        i += 1
    j = n
    while j > i and (chunk[j - 1] in _TAIL_CHARS or chunk[j - 1] == "." and j - 2 >= i and chunk[j - 2] in _DOT_AFTER):
        j -= 1
    if i == j or not chunk[i:j].isalpha() or chunk[i:j] in ("s", "S"):  # "'s" is a suffix across the two
        return _affix_split(chunk)
    a, b = 0, n  # the rest is chunk[a:b]
    cases = SPECIAL_CASES
    while chunk[a:b] not in cases:
        pre, suf = a < i, b > j
        if pre and chunk[a + 1:b] in cases:
            a += 1
            break
        if suf and chunk[a:b - 1] in cases:
            b -= 1
            break
        if not (pre or suf):
            break
        a, b = a + pre, b - suf
    rest = chunk[a:b]
    return [*chunk[:a], *cases.get(rest, (rest,)), *chunk[b:]]


def _learn(chunk: str) -> tuple[str, ...]:
    if chunk.isalpha() and chunk not in SPECIAL_CASES:
        pieces: tuple[str, ...] = (chunk,)
    else:
        split = _pieces_quickly(chunk)
        taken = _taken(split)
        pieces = tuple(_join(split, taken))
        if pieces != tuple(split):
            _BEFORE_JOINS[chunk] = tuple(split)
            if _exposed(split, taken):
                _EXPOSED.add(chunk)
    _CACHE[chunk] = pieces
    return pieces


def _rejoin(text: str, chunks: list[str], pieces: list[tuple[str, ...]]) -> None:
    """Step 5 for the exposed chunks among `chunks`, as spaCy runs it over the whole text,
    in place. Whether a run of pieces is joined depends only on the special cases that
    overlap it, all within _REACH pieces, so the chunks that far around it suffice."""
    gaps = _WHITESPACE.findall(text)  # gaps[k - 1 + lead] lies between chunks k - 1 and k
    lead = 1 if text[:1].isspace() else 0
    for i in compress(count(), map(_EXPOSED.__contains__, chunks)):
        chunk = chunks[i]
        run: list = []
        chunk_of: list[int] = []
        for k in range(max(0, i - _REACH), min(len(chunks), i + _REACH + 1)):
            if run and gaps[k - 1 + lead] != " ":  # a whitespace token
                run.append(None)
                chunk_of.append(-1)
            split = _BEFORE_JOINS.get(chunks[k]) or _CACHE[chunks[k]]
            run += split
            chunk_of += [k] * len(split)
        first = chunk_of.index(i)
        mine = [(a - first, b - first) for a, b in _taken(run, chunk_of) if chunk_of[a] == i]
        pieces[i] = tuple(_join(list(_BEFORE_JOINS[chunk]), mine))


def _split(text: str) -> tuple[list[str], list[tuple[str, ...]]]:
    """The chunks of `text` and their pieces."""
    chunks = text.split()
    pieces = list(map(_CACHE.get, chunks))
    if not all(pieces):  # a chunk not seen yet (pieces are never empty)
        if len(_CACHE) + len(chunks) > CACHE_SIZE:  # start over (never within a text)
            _CACHE.clear()
            _BEFORE_JOINS.clear()
            _EXPOSED.clear()
            _STEPS.clear()
            pieces = [None] * len(chunks)
        pieces = [p if p is not None else _learn(c) for p, c in zip(pieces, chunks)]
    if not _EXPOSED.isdisjoint(chunks):
        _rejoin(text, chunks, pieces)
    return chunks, pieces


def words(text: str) -> list[str]:
    """The words of `text` as datatrove's `split_into_words(text, "en")` gives them."""
    return list(chain.from_iterable(_split(text)[1]))


def word_count(text: str) -> int:
    """len(words(text)), without building the list."""
    return sum(map(len, _split(text)[1]))


# ---- sentences -----------------------------------------------------------------------

# spaCy's sentencizer's terminals: Unicode's Sentence_Terminal characters as of Unicode 11
SENTENCE_TERMINALS = frozenset(chr(cp) for a, b in _span(
    "0021 002E 003F 0589 061F 06D4 0700-0702 07F9 0964-0965 104A-104B 1362 1367-1368 166E 1735-1736 1803 1809 "
    "1944-1945 1AA8-1AAB 1B5A-1B5B 1B5E-1B5F 1C3B-1C3C 1C7E-1C7F 203C-203D 2047-2049 2E2E 2E3C 3002 A4FF "
    "A60E-A60F A6F3 A6F7 A876-A877 A8CE-A8CF A92F A9C8-A9C9 AA5D-AA5F AAF0-AAF1 ABEB FE52 FE56-FE57 FF01 FF0E "
    "FF1F FF61 10A56-10A57 11047-11048 110BE-110C1 11141-11143 111C5-111C6 111CD 111DE-111DF 11238-11239 "
    "1123B-1123C 112A9 1144B-1144C 115C2-115C3 115C9-115D7 11641-11642 1173C-1173E 11A42-11A43 11A9B-11A9C "
    "11C41-11C42 16A6E-16A6F 16AF5 16B37-16B38 16B44 1BC9F 1DA88") for cp in range(a, b + 1))
_TERMINAL = "[" + re.escape("".join(sorted(SENTENCE_TERMINALS))) + "]"
# the terminals, and the same for texts without characters beyond U+FFFF (a class of those
# alone compiles to a lookup table, many times faster) and for ASCII texts
_TERMINAL_CHAR = re.compile(_TERMINAL)
_BMP_TERMINAL_CHAR = re.compile("[" + re.escape("".join(sorted(c for c in SENTENCE_TERMINALS if c <= "\uffff"))) + "]")
_ASCII_TERMINAL_CHAR = re.compile(r"[.!?]")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_WITH_TERMINAL = re.compile(r"(?<!\S)\S*" + _TERMINAL + r"\S*")  # a chunk holding a terminal
_LETTER_OR_DIGIT = re.compile(r"[^\W_]")
# per chunk: (sentences started in it, terminal pending after it) when no terminal is pending
# before it, then the same when one is
_STEPS: dict[str, tuple[int, bool, int, bool]] = {}


def _is_punct(token: str) -> bool:
    return all(unicodedata.category(c)[0] == "P" for c in token)


def _tokens(text: str, pieces: list[tuple[str, ...]]) -> list:
    """spaCy's tokens of `text` given its chunks' pieces, None for its whitespace tokens: a
    run of whitespace other than one space (any run at the start)."""
    tokens: list = []
    chunk = iter(pieces)
    for m in _PIECES.finditer(text):
        if not m.group()[0].isspace():
            tokens += next(chunk)
        elif m.group() != " " or m.start() == 0:
            tokens.append(None)
    return tokens


def _sentence_starts(tokens, pending: bool) -> tuple[int, bool]:
    """How many sentences the sentencizer starts in `tokens` (None: a whitespace token), and
    whether a terminal is pending after them, given whether one is pending before."""
    n = 0
    for token in tokens:
        if token is not None and token in SENTENCE_TERMINALS:
            pending = True
        elif pending and (token is None or not _is_punct(token)):
            n += 1
            pending = False
    return n, pending


def _step(chunk: str) -> tuple[int, bool, int, bool]:
    tokens = _CACHE.get(chunk) or _learn(chunk)
    step = (*_sentence_starts(tokens, False), *_sentence_starts(tokens, True))
    _STEPS[chunk] = step
    return step


def _starts_sentence(gap: str) -> bool:
    """Whether text between chunks holds a token that starts a sentence after a terminal:
    one that is not punctuation, or whitespace other than one space."""
    if _LETTER_OR_DIGIT.search(gap):
        return True
    for piece in _PIECES.findall(gap):
        if piece != " " if piece[0].isspace() else not _is_punct(piece):
            return True
    return False


def sentences(text: str) -> int:
    """How many sentences spaCy's sentencizer finds in `text` (as datatrove counts them: an
    empty text is one sentence). Only chunks with a terminal and what follows them matter."""
    chunks, pieces = _split(text)
    if not _EXPOSED.isdisjoint(chunks):  # (rare) chunks' own pieces may not be spaCy's here
        return 1 + _sentence_starts(_tokens(text, pieces), False)[0]
    n, pending, end = 1, False, 0
    get = _STEPS.get
    if " ".join(chunks) == text:  # single spaces only (most lines): chunks end at " "
        terminals = (_ASCII_TERMINAL_CHAR if text.isascii() else
                     _BMP_TERMINAL_CHAR if not _ASTRAL.search(text) else _TERMINAL_CHAR)
        for m in terminals.finditer(text):
            at = m.start()
            if at < end:  # in the chunk just counted
                continue
            start = text.rfind(" ", 0, at) + 1
            if pending and _starts_sentence(text[end:start]):
                n += 1
                pending = False
            end = text.find(" ", at)
            if end < 0:
                end = len(text)
            chunk = text[start:end]
            step = get(chunk) or _step(chunk)
            n, pending = (n + step[2], step[3]) if pending else (n + step[0], step[1])
    else:
        for m in _WITH_TERMINAL.finditer(text):
            if pending and _starts_sentence(text[end:m.start()]):
                n += 1
                pending = False
            step = get(m.group()) or _step(m.group())
            n, pending = (n + step[2], step[3]) if pending else (n + step[0], step[1])
            end = m.end()
    if pending and _starts_sentence(text[end:]):
        n += 1
    return n


# ---- what the filters count ---------------------------------------------------------------

# datatrove's punctuation: a word made only of these is a "symbol" word in Gopher's rules.
# ASCII punctuation, control characters (without tab and newline), some typographic and CJK
# punctuation, and the sentence terminals below.
TERMINAL_PUNCTUATION = frozenset(SENTENCE_TERMINALS | {chr(cp) for a, b in _span(
    "061D-061E 0837 0839 083D-083E 17D4-17D6 17D9-17DA 1B7D-1B7E 2E53-2E54 10F55-10F59 10F86-10F89 11944 11946 "
    "11EF7-11EF8 11F43-11F44 16E98") for cp in range(a, b + 1)})
SYMBOLS = frozenset({chr(cp) for a, b in _span(
    "0000-0008 000B-001F 0021-002F 003A-0040 005B-0060 007B-009F 00AB 00B4 00BB 2013-2014 2019 201C-201E 2026 2236 "
    "2501 25BA 3001-3002 3008-300D 3010-3011 FF01 FF05 FF08-FF09 FF0C FF0E FF11 FF1A-FF1B FF1F FF5E")
    for cp in range(a, b + 1)} | TERMINAL_PUNCTUATION)
# FineWeb: a line "ends in terminal punctuation" if it ends in one of these
TERMINALS = tuple(sorted(TERMINAL_PUNCTUATION))


def is_symbol_word(word: str) -> bool:
    return SYMBOLS.issuperset(word)


def find_duplicates(items: list[str]) -> tuple[int, int]:
    """(elements, characters) that repeat an element seen earlier."""
    seen: set[str] = set()
    n = chars = 0
    for x in items:
        if x in seen:
            n += 1
            chars += len(x)
        else:
            seen.add(x)
    return n, chars
