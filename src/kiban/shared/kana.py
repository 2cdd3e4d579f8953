"""Kana (仮名) normalisation for search keys and katakana checks.

Architecture rule: store names exactly as given; normalise only when building search
keys.  :func:`search_key` is therefore aggressive (it is lossy on purpose), while
:func:`to_katakana` changes only the script of kana and leaves every other character,
including kanji, untouched.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

__all__ = ["is_katakana", "search_key", "to_katakana"]

# Hiragana ぁ (U+3041) .. ゖ (U+3096) and the iteration marks ゝゞ (U+309D-309E) map to
# katakana by a fixed offset of 0x60.
_HIRA_TO_KATA: Final = {cp: cp + 0x60 for cp in (*range(0x3041, 0x3097), 0x309D, 0x309E)}

# Small kana → large kana, so that e.g. "キョウ" and "キヨウ" share a key: registers
# written before 1988 and many older systems do not distinguish small kana.
_SMALL_TO_LARGE: Final = str.maketrans(
    "ァィゥェォッャュョヮヵヶㇰㇱㇲㇳㇴㇵㇶㇷㇸㇹㇺㇻㇼㇽㇾㇿ",
    "アイウエオツヤユヨワカケクシストヌハヒフヘホムラリルレロ",
)

_ASCII_UPPER: Final = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")

# A run of half-width katakana (U+FF61-FF9F), together with the full-width kana before
# it, so that a half-width (semi-)voiced mark composes with its base character.
_HALFWIDTH_RUN: Final = re.compile(r"[\u3041-\u30ff]?[\uff61-\uff9f]+")

# Combining (semi-)voiced marks left without a base that composes; replaced by the
# spacing forms ゛゜ so that no stray combining character is produced.
_LONE_MARKS: Final = str.maketrans({"\u3099": "\u309b", "\u309a": "\u309c"})

# Full-width katakana ァ..ヺ (U+30A1-30FA), ・ (U+30FB), ー (U+30FC), ヽヾ (U+30FD-30FE),
# and the ASCII and ideographic spaces.
_KATAKANA_ALLOWED: Final = frozenset(
    [chr(cp) for cp in range(0x30A1, 0x30FF)] + [" ", "\u3000"],
)
_KATAKANA_LETTERS: Final = frozenset(chr(cp) for cp in range(0x30A1, 0x30FB)) | {"ヽ", "ヾ"}


def to_katakana(text: str) -> str:
    """Convert hiragana to katakana and half-width katakana (半角カナ) to full width.

    Everything else is returned unchanged (no NFKC of kanji, Latin letters or digits).
    """
    full = _HALFWIDTH_RUN.sub(lambda m: unicodedata.normalize("NFKC", m.group()), text)
    return full.translate(_LONE_MARKS).translate(_HIRA_TO_KATA)


def search_key(text: str) -> str:
    """Build the search key (検索キー) for a name or kana reading.

    NFKC (which also turns half-width katakana into full width and full-width ASCII into
    ASCII), hiragana → katakana, all whitespace removed (ASCII and 全角スペース), small
    kana → large kana, ASCII letters upper-cased.  ヴ and the long vowel mark ー are
    kept.  Only for matching: never store the result in place of the original.
    """
    normalized = unicodedata.normalize("NFKC", text)
    katakana = normalized.translate(_HIRA_TO_KATA)
    compact = "".join(katakana.split())
    folded = compact.translate(_SMALL_TO_LARGE).translate(_ASCII_UPPER)
    # Removing spaces and enlarging kana can leave a combining mark next to a new base
    # (e.g. "ヵ" + U+3099); a final NFKC composes it so the key is idempotent.
    return unicodedata.normalize("NFKC", folded)


def is_katakana(text: str) -> bool:
    """Return True if ``text`` is full-width katakana (カタカナ) only.

    Allowed: full-width katakana (including ヴ and small kana), ー, ・, ASCII and
    全角 spaces.  At least one katakana letter is required, so "" and "ー" are False.
    Half-width katakana is not full-width and gives False.
    """
    if not isinstance(text, str):
        return False
    return all(ch in _KATAKANA_ALLOWED for ch in text) and any(ch in _KATAKANA_LETTERS for ch in text)
