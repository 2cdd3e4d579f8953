"""The source systems' import files (取込ファイル) written by the synthetic city.

Three files, UTF-8 without BOM, comma separated, CRLF line ends (RFC 4180), one header row with the
Japanese column names below; dates ISO 8601; amounts int yen; empty field = no value. No field ever
contains a comma, quote or line break, so no field is quoted. Every column is documented in
docs/layouts/synth-source-files.md (a test keeps the two in step):

- ``jumin.csv`` — 住民記録 全件 (residents and 住登外 persons), the only place the 個人番号 appears;
- ``kazei.csv`` — 住民税 課税情報, one row per person and 年度;
- ``seiho.csv`` — 生活保護 受給期間.

Files are written under a temporary name and renamed only when the whole city is done, so a failed
generation never leaves half a file under the final name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Final

from kiban.db import config


@dataclass(frozen=True, slots=True)
class Column:
    header: str  # the Japanese column name in the header row
    kind: str  # 文字 / 数字 / 日付 / 金額
    meaning: str


LAYOUTS: Final[dict[str, tuple[Column, ...]]] = {
    "jumin.csv": (
        Column("市区町村コード", "数字6", "地方公共団体コード（検査数字付き）"),
        Column("宛名番号", "数字10", "個人を識別する宛名番号"),
        Column("個人番号", "数字12", "個人番号（検査用数字付き）"),
        Column("世帯番号", "数字10", "世帯番号（住登外者は空）"),
        Column("住民区分", "文字", "住民 / 住登外"),
        Column("続柄", "文字", "世帯主との続柄（住登外者は空）"),
        Column("氏", "文字", "氏（漢字）"),
        Column("名", "文字", "名（漢字）"),
        Column("氏カナ", "文字", "氏（全角カタカナ）"),
        Column("名カナ", "文字", "名（全角カタカナ）"),
        Column("性別", "数字1", "1 男, 2 女"),
        Column("生年月日", "日付", "生年月日"),
        Column("郵便番号", "文字8", "郵便番号（NNN-NNNN）"),
        Column("住所", "文字", "住所（都道府県から番地まで）"),
        Column("方書", "文字", "方書（集合住宅名・部屋番号、施設名）"),
        Column("地区コード", "数字2", "地区コード（住登外者は空）"),
        Column("住民となった日", "日付", "出生日または転入日"),
        Column("住登外となった日", "日付", "転出・施設入所の日（住民は空）"),
        Column("住登外事由", "文字", "住所地特例（施設入所） / 転出（賦課・収納継続）（住民は空）"),
    ),
    "kazei.csv": (
        Column("市区町村コード", "数字6", "地方公共団体コード"),
        Column("宛名番号", "数字10", "宛名番号"),
        Column("年度", "数字4", "住民税の賦課年度（所得は前年の暦年分）"),
        Column("給与収入額", "金額", "給与等の収入金額"),
        Column("給与所得", "金額", "給与所得控除・所得金額調整控除の後の金額"),
        Column("公的年金等収入額", "金額", "公的年金等の収入金額（課税年金収入額）"),
        Column("公的年金等雑所得", "金額", "公的年金等に係る雑所得の金額"),
        Column("その他の所得", "金額", "事業所得・不動産所得などの合計"),
        Column("合計所得金額", "金額", "給与所得＋公的年金等雑所得＋その他の所得"),
        Column("扶養親族等の数", "数字", "同一生計配偶者及び扶養親族（年少扶養親族を含む）の数"),
        Column("課税区分", "文字", "課税 / 非課税（均等割の課否）"),
        Column("非課税事由", "文字", "生活扶助 / 未成年者 / 寡婦 / ひとり親 / 所得基準（課税は空）"),
        Column(
            "長期譲渡所得等特別控除額",
            "金額",
            "租税特別措置法の長期・短期譲渡所得の特別控除額（合成都市では0）",
        ),
    ),
    "seiho.csv": (
        Column("市区町村コード", "数字6", "地方公共団体コード"),
        Column("宛名番号", "数字10", "宛名番号"),
        Column("世帯番号", "数字10", "保護を受けた世帯の世帯番号"),
        Column("保護開始日", "日付", "保護開始日"),
        Column("保護廃止日", "日付", "保護廃止日（受給中は空）"),
        Column("福祉事務所", "文字", "保護の実施機関（福祉事務所）"),
        Column("代理納付", "数字1", "介護保険料の代理納付（生活保護法第37条の2）: 1 あり, 0 なし"),
    ),
}


def header(file_name: str) -> bytes:
    """The header row of ``file_name`` as written (UTF-8, CRLF)."""
    return (",".join(c.header for c in LAYOUTS[file_name]) + "\r\n").encode()


def default_dir(seed: int) -> Path:
    """``$KIBAN_HOME/synth/<seed>/`` (KIBAN_HOME defaults to ./var)."""
    return config.home() / "synth" / str(seed)


class FileSet:
    """The three files of one generation, written chunk by chunk, published by :meth:`commit`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._files: dict[str, BinaryIO] = {}
        for name in LAYOUTS:
            f = open(self._partial(name), "wb")  # noqa: SIM115 — closed in commit()/abort()
            f.write(header(name))
            self._files[name] = f

    def _partial(self, name: str) -> Path:
        return self.folder / f".{name}.partial-{os.getpid()}"

    def write(self, name: str, data: bytes) -> None:
        self._files[name].write(data)

    def commit(self) -> None:
        for name, f in self._files.items():
            f.close()
            os.replace(self._partial(name), self.folder / name)
        self._files.clear()

    def abort(self) -> None:
        for name, f in self._files.items():
            f.close()
            self._partial(name).unlink(missing_ok=True)
        self._files.clear()

    def __enter__(self) -> FileSet:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._files:
            self.abort()
