"""Tests for kiban.shared.kana (仮名の正規化)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiban.shared.kana import is_katakana, search_key, to_katakana


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("やまだ たろう", "ヤマダタロウ"),
        ("ヤマダ　タロウ", "ヤマダタロウ"),  # 全角スペース
        ("ﾔﾏﾀﾞ ﾀﾛｳ", "ヤマダタロウ"),  # half-width with voiced mark
        ("ｷｮｳｺ", "キヨウコ"),  # small kana become large
        ("きょうこ", "キヨウコ"),
        ("キョウコ", "キヨウコ"),
        ("ァィゥェォッャュョヮヵヶ", "アイウエオツヤユヨワカケ"),
        ("ヴァイオリン", "ヴアイオリン"),  # ヴ kept
        ("ゔ", "ヴ"),
        ("ｳﾞ", "ヴ"),
        ("ラーメン", "ラーメン"),  # long vowel mark kept
        ("ﾗｰﾒﾝ", "ラーメン"),
        ("smith john", "SMITHJOHN"),
        ("Ｓｍｉｔｈ", "SMITH"),  # full-width ASCII via NFKC
        ("山田\t太郎\n", "山田太郎"),
        ("ぱぴぷぺぽ", "パピプペポ"),
        ("", ""),
    ],
)
def test_search_key(text: str, key: str) -> None:
    assert search_key(text) == key


def test_search_key_uppercases_only_ascii() -> None:
    assert search_key("straße") == "STRAßE"


@given(st.text(max_size=30))
def test_search_key_is_idempotent_and_spaceless(text: str) -> None:
    key = search_key(text)
    assert search_key(key) == key
    assert not any(ch.isspace() for ch in key)
    assert not any("\u3041" <= ch <= "\u3096" for ch in key)  # no hiragana left


@given(st.text(alphabet=st.characters(min_codepoint=0x3041, max_codepoint=0x3096), max_size=20))
def test_hiragana_and_katakana_share_keys(text: str) -> None:
    assert search_key(text) == search_key(to_katakana(text))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("やまだ", "ヤマダ"),
        ("ﾔﾏﾀﾞ", "ヤマダ"),
        ("ｶﾞｯｺｳ", "ガッコウ"),  # small kana preserved by to_katakana
        ("ﾊﾟﾝ", "パン"),
        ("やまﾀﾞ", "ヤマダ"),
        ("山田 たろう", "山田 タロウ"),  # kanji and spaces untouched
        ("ＡＢＣ１２３", "ＡＢＣ１２３"),  # not NFKC-folded
        ("ゝゞ", "ヽヾ"),
        ("ﾞ", "゛"),  # a lone half-width voiced mark becomes the spacing form
        ("ｰ", "ー"),
        ("", ""),
    ],
)
def test_to_katakana(text: str, expected: str) -> None:
    assert to_katakana(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "ヤマダ",
        "ヤマダ タロウ",
        "ヤマダ　タロウ",
        "ジョン・スミス",
        "ヴィクトリア",
        "キョウコ",
        "ラーメン",
        "ヵヶ",
    ],
)
def test_is_katakana_true(text: str) -> None:
    assert is_katakana(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "ー",
        "・",
        "やまだ",
        "ﾔﾏﾀﾞ",
        "山田",
        "ヤマダ1",
        "YAMADA",
        "ヤマダ-タロウ",
        "ヤマダ\tタロウ",
        None,
    ],
)
def test_is_katakana_false(text: object) -> None:
    assert not is_katakana(text)  # type: ignore[arg-type]
