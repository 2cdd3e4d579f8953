"""The documented layouts of the facts files (他業務が必要とする情報の取込様式) and their row checks.

Four kinds, each a CSV file from another department's system (docs/layouts/facts.md):

- ``kazei``  — 住民税 課税情報 (kazei.csv), one row per person and 年度 (from 課税管理課, 年次・月次);
- ``seiho``  — 生活保護 受給期間 (seiho.csv) (from 保護管理援護課, 月次・日次);
- ``rofuku`` — 老齢福祉年金 受給期間 (rofuku.csv) (from 国保年金課);
- ``iryo``   — 医療保険 加入情報 (iryo.csv).

Source: seed 000 別添2 特定個人情報ファイル記録項目 (医療保険加入情報・生活保護情報・老齢福祉年金情報)
and ③入手の時期・頻度. This module only reads and checks rows into typed records and an error list
(エラーリスト); ``kiban.identity.facts`` resolves the 宛名番号 and applies them.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import pairwise
from typing import Any, Final, NamedTuple

from kiban.identity.importing import Row, RowError, read_csv
from kiban.identity.repo import IdentityError
from kiban.shared import clock
from kiban.shared.mynumber import contains_my_number

CITY = "市区町村コード"
PERSON = "宛名番号"

KAZEI_HEADER: Final = (
    CITY,
    PERSON,
    "年度",
    "給与収入額",
    "給与所得",
    "公的年金等収入額",
    "公的年金等雑所得",
    "その他の所得",
    "合計所得金額",
    "扶養親族等の数",
    "課税区分",
    "非課税事由",
    "長期譲渡所得等特別控除額",
)
SEIHO_HEADER: Final = (CITY, PERSON, "世帯番号", "保護開始日", "保護廃止日", "福祉事務所", "代理納付")
SEIHO_HEADER_BASIC: Final = SEIHO_HEADER[:5]  # the 5 columns without 福祉事務所・代理納付
ROFUKU_HEADER: Final = (CITY, PERSON, "受給開始日", "受給停止日")
IRYO_HEADER: Final = (
    CITY,
    PERSON,
    "保険者番号",
    "保険者種別",
    "記号",
    "番号",
    "本人家族区分",
    "資格取得日",
    "資格喪失日",
)

NONTAXABLE_REASONS: Final = ("生活扶助", "障害者", "未成年者", "寡婦", "ひとり親", "所得基準")
# 保険者種別 and the 法別番号 (first two digits) an 8-digit 保険者番号 of that kind begins with.
INSURER_KINDS: Final[dict[str, tuple[str, ...]]] = {
    "国保": (),  # 市町村国保: 6 digits (都道府県番号 2 + 保険者別番号 3 + 検証番号 1)
    "国保組合": (),  # 国民健康保険組合: 6 digits too
    "協会けんぽ": ("01",),
    "船員保険": ("02",),
    "組合健保": ("06",),
    "共済": ("07", "31", "32", "33", "34"),  # 自衛官等・国家公務員・地方公務員等・警察・私学
    "後期高齢": ("39",),
}
MAX_AMOUNT: Final = 99_999_999_999  # 11 digits: no amount can ever look like a 12-digit 個人番号
MIN_YEAR: Final = 1990
FIRST_DAY: Final = date(1900, 1, 1)
LAST_DAY: Final = date(2099, 12, 31)
ONE_DAY: Final = timedelta(days=1)


class TaxRow(NamedTuple):
    """One row of kazei.csv, checked (amounts in yen). A tuple in the order the import COPYs it."""

    line_no: int
    person_no: str
    city_code: str
    fiscal_year: int
    taxable: bool
    nontaxable_reason: str | None
    salary_income: int
    salary_net: int
    public_pension_income: int
    pension_misc_income: int
    other_income: int
    total_income: int
    capital_gains_deduction: int
    dependants: int


@dataclass(frozen=True, slots=True)
class PeriodRow:
    """One period (生活保護・老齢福祉年金・医療保険), checked. ``end`` is exclusive (the first day without)."""

    line_no: int
    person_no: str
    city_code: str
    start: date
    end: date | None
    values: dict[str, Any]  # the kind's own columns, by table column name


@dataclass(frozen=True)
class Layout:
    kind: str
    file_name: str
    label: str
    headers: tuple[tuple[str, ...], ...]  # accepted header rows; the first is the full layout
    table: str  # identity.<table>
    topic: str  # identity.facts.<topic>.changed | .loaded


LAYOUTS: Final[dict[str, Layout]] = {
    "kazei": Layout("kazei", "kazei.csv", "住民税 課税情報", (KAZEI_HEADER,), "tax_income", "tax_income"),
    "seiho": Layout(
        "seiho",
        "seiho.csv",
        "生活保護 受給期間",
        (SEIHO_HEADER, SEIHO_HEADER_BASIC),
        "welfare_period",
        "welfare",
    ),
    "rofuku": Layout(
        "rofuku",
        "rofuku.csv",
        "老齢福祉年金 受給期間",
        (ROFUKU_HEADER,),
        "old_age_pension_period",
        "old_age_pension",
    ),
    "iryo": Layout(
        "iryo", "iryo.csv", "医療保険 加入情報", (IRYO_HEADER,), "medical_insurance", "medical_insurance"
    ),
}


def layout(kind: str) -> Layout:
    try:
        return LAYOUTS[kind]
    except KeyError:
        raise IdentityError("取込の種類は次のいずれかです: " + "・".join(LAYOUTS)) from None


@dataclass
class Parsed:
    """A file read and checked: the good rows, the error list and the number of data rows."""

    rows: list[Any]
    errors: list[RowError]
    count: int


def parse(kind: str, data: bytes) -> Parsed:
    """Read and check every row of a facts file (header or encoding errors raise ImportRejected)."""
    # A city-wide file makes millions of small tuples, which set off the cyclic garbage collector
    # hundreds of times for nothing (they hold no cycles): it rests while the file is read.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _parse(kind, data)
    finally:
        if enabled:
            gc.enable()


def _parse(kind: str, data: bytes) -> Parsed:
    spec = layout(kind)
    header = _header_of(data, spec.headers)
    errors: list[RowError] = []
    check = _CHECKS[kind]
    rows: list[Any] = []
    count = 0
    _TODAY[0] = clock.today()

    def slow(line_no: int, fields: list[str]) -> None:
        row = Row.of(line_no, fields, header, errors)
        key = row.raw(PERSON)
        # The record key names the person in the error list — only a well-formed 宛名番号 (a 個人番号
        # put in this column by mistake must never reach the list).
        row.key = key if len(key) == 10 and key.isascii() and key.isdigit() else ""
        if row.values:
            record = check(row)
            if record is not None and row.ok:
                rows.append(record)

    plain = _plain_lines(data, header) if kind == "kazei" else None
    if plain is not None:  # a city-wide tax file: most rows take the fast path
        for line_no, line in plain:
            count += 1
            record = _fast_kazei(line_no, line)
            if record is not None:
                rows.append(record)
            else:
                slow(line_no, line.split(","))
    else:
        for line_no, fields in read_csv(data, header):
            count += 1
            slow(line_no, fields)
    if kind == "kazei":
        _check_unique_years(rows, errors)
    else:
        _check_overlaps(rows, errors)
    errors.sort(key=lambda e: (e.line_no, e.field))
    return Parsed(rows, errors, count)


def _plain_lines(data: bytes, header: Sequence[str]) -> list[tuple[int, str]] | None:
    """The data lines of a file without quotes (numbered as read_csv numbers them), or None when the
    file needs the CSV reader: quotes, a lone CR, bad UTF-8 or a wrong header (read_csv reports)."""
    try:
        body = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    if '"' in body or body.count("\r") != body.count("\r\n"):
        return None
    lines = body.replace("\r\n", "\n").split("\n")
    if [h.strip() for h in lines[0].split(",")] != list(header):
        return None
    # Blank lines are skipped as read_csv skips them (a line of spaces too), keeping the numbering.
    return [(i, line) for i, line in enumerate(lines[1:], start=2) if "," in line or line.strip()]


def _header_of(data: bytes, variants: Sequence[tuple[str, ...]]) -> tuple[str, ...]:
    """The accepted header the file starts with (the full layout when none matches: read_csv says so)."""
    first = data[:4096].split(b"\n", 1)[0].decode("utf-8-sig", errors="replace").rstrip("\r")
    names = [h.strip() for h in first.split(",")]
    return next((h for h in variants if list(h) == names), variants[0])


# -- checks shared by the kinds ---------------------------------------------------------------------


def _common(row: Row) -> tuple[str, str] | None:
    city = row.digits(CITY, 6)
    person = row.digits(PERSON, 10)
    if city is None or person is None:
        return None
    return city, person


def _amount(row: Row, name: str, *, minimum: int = 0) -> int | None:
    value = row.integer(name, minimum=minimum)
    if value is not None and abs(value) > MAX_AMOUNT:
        row.error(name, "金額が大きすぎます（11桁まで）")
        return None
    return value


def _date(row: Row, name: str, *, required: bool = True) -> date | None:
    value = row.date(name, required=required)
    if value is not None and not FIRST_DAY <= value <= LAST_DAY:
        row.error(name, "日付が範囲外です（1900-01-01〜2099-12-31）")
        return None
    return value


# -- 住民税 課税情報 ---------------------------------------------------------------------------------


def _check_kazei(row: Row) -> TaxRow | None:
    key = _common(row)
    fiscal_year = row.digits("年度", 4)
    latest = _latest_year()
    if fiscal_year is not None and not MIN_YEAR <= int(fiscal_year) <= latest:
        row.error("年度", f"年度が範囲外です（{MIN_YEAR}〜{latest}）")
    salary = _amount(row, "給与収入額")
    salary_net = _amount(row, "給与所得")
    pension = _amount(row, "公的年金等収入額")
    pension_misc = _amount(row, "公的年金等雑所得")
    # A business loss offsets other income (損益通算, 所得税法第69条), so その他の所得 may be negative.
    other = _amount(row, "その他の所得", minimum=-MAX_AMOUNT)
    total = _amount(row, "合計所得金額")
    dependants = row.integer("扶養親族等の数")
    status = row.choice("課税区分", ("課税", "非課税"))
    reason = row.raw("非課税事由") or None
    special = _amount(row, "長期譲渡所得等特別控除額")
    if dependants is not None and dependants > 99:
        row.error("扶養親族等の数", "99 以下です")
    if salary is not None and salary_net is not None and salary_net > salary:
        row.error("給与所得", "給与収入額を超えています")
    if pension is not None and pension_misc is not None and pension_misc > pension:
        row.error("公的年金等雑所得", "公的年金等収入額を超えています")
    parts = (salary_net, pension_misc, other)
    known = [p for p in parts if p is not None]
    if total is not None and len(known) == len(parts) and total != max(0, sum(known)):
        row.error("合計所得金額", "給与所得・公的年金等雑所得・その他の所得の合計（0未満は0）と一致しません")
    if status == "課税" and reason:
        row.error("非課税事由", "課税のときは空です")
    elif status == "非課税":
        row.choice("非課税事由", NONTAXABLE_REASONS)
    if key is None or not row.ok or fiscal_year is None:
        return None
    assert salary is not None and salary_net is not None and pension is not None  # for the type checker
    assert pension_misc is not None and other is not None and total is not None and special is not None
    return TaxRow(
        line_no=row.line_no,
        person_no=key[1],
        city_code=key[0],
        fiscal_year=int(fiscal_year),
        salary_income=salary,
        salary_net=salary_net,
        public_pension_income=pension,
        pension_misc_income=pension_misc,
        other_income=other,
        total_income=total,
        dependants=dependants or 0,
        taxable=status == "課税",
        nontaxable_reason=reason,
        capital_gains_deduction=special,
    )


# The fast path for a city-wide file: a row that matches this and the cross-checks below is exactly
# what _check_kazei accepts; anything else goes through _check_kazei, which names the errors.
_FAST_KAZEI: Final = re.compile(
    r"([0-9]{6}),([0-9]{10}),([0-9]{4}),([0-9]{1,11}),([0-9]{1,11}),([0-9]{1,11}),([0-9]{1,11}),"
    r"(-?[0-9]{1,11}),([0-9]{1,11}),([0-9]{1,2}),(課税|非課税),([^,]*),([0-9]{1,11})"
)
_REASONS: Final = frozenset(NONTAXABLE_REASONS)


def _latest_year() -> int:
    """The latest 年度 a file may hold: next year's (a 年度 further ahead is a typing error)."""
    return _TODAY[0].year + 1


_TODAY: list[date] = [clock.today()]  # refreshed by parse(): one clock read per file, not per row


def _fast_kazei(line_no: int, line: str) -> TaxRow | None:
    m = _FAST_KAZEI.fullmatch(line)
    if m is None:
        return None
    city, person, year_s, status, reason = m.group(1, 2, 3, 11, 12)
    year = int(year_s)
    salary, salary_net, pension, misc, other, total, dependants, special = map(
        int, m.group(4, 5, 6, 7, 8, 9, 10, 13)
    )
    if (
        not MIN_YEAR <= year <= _latest_year()
        or salary_net > salary
        or misc > pension
        or total != max(0, salary_net + misc + other)
        or (reason != "" if status == "課税" else reason not in _REASONS)
    ):
        return None
    return TaxRow(
        line_no,
        person,
        city,
        year,
        status == "課税",
        reason or None,
        salary,
        salary_net,
        pension,
        misc,
        other,
        total,
        special,
        dependants,
    )


def _check_unique_years(rows: list[TaxRow], errors: list[RowError]) -> None:
    first: dict[tuple[str, int], int] = {}
    for r in rows:
        seen = first.setdefault((r.person_no, r.fiscal_year), r.line_no)
        if seen != r.line_no:
            errors.append(
                RowError(r.line_no, r.person_no, "年度", f"同じ宛名番号・年度の行が {seen}行目にもあります")
            )


# -- periods ---------------------------------------------------------------------------------------


def _period(
    row: Row, start_name: str, end_name: str, *, end_inclusive: bool
) -> tuple[date, date | None] | None:
    """The period [start, end) of a row. ``end_inclusive``: the file's end date is the last day of the
    period (生活保護 廃止日, 老齢福祉年金 停止日), else the first day without (医療保険 資格喪失日)."""
    start = _date(row, start_name)
    end = _date(row, end_name, required=False)
    if start is None:
        return None
    if end is not None:
        if end < start or (end == start and not end_inclusive):
            row.error(end_name, f"{start_name}より前です" if end < start else f"{start_name}と同じ日です")
            return None
        if end_inclusive:
            end += ONE_DAY
    return start, end


def _check_seiho(row: Row) -> PeriodRow | None:
    key = _common(row)
    household_no = row.digits("世帯番号", 10)
    office = row.text("福祉事務所", required=False, max_len=40)
    proxy = row.choice("代理納付", ("1", "0"), required=False)
    if office and contains_my_number(office):
        row.error("福祉事務所", "個人番号と思われる値は記録できません")
    period = _period(row, "保護開始日", "保護廃止日", end_inclusive=True)
    if key is None or period is None or not row.ok:
        return None
    values = {"household_no": household_no, "welfare_office": office, "proxy_payment": proxy == "1"}
    return PeriodRow(row.line_no, key[1], key[0], period[0], period[1], values)


def _check_rofuku(row: Row) -> PeriodRow | None:
    key = _common(row)
    period = _period(row, "受給開始日", "受給停止日", end_inclusive=True)
    if key is None or period is None or not row.ok:
        return None
    return PeriodRow(row.line_no, key[1], key[0], period[0], period[1], {})


_SYMBOL_RE: Final = re.compile(r"[0-9A-Za-z０-９Ａ-Ｚａ-ｚ\-ー・一-龥ぁ-んァ-ヶ]{1,20}")


def insurer_number_ok(number: str) -> bool:
    """The 検証番号 (last digit) of a 保険者番号: the other digits are multiplied from the right by
    2, 1, 2, 1 …, the digits of the products summed, and the check is 10 − (sum mod 10), 0 when the
    remainder is 0 (保険者番号の設定方法, 昭和51年厚生省通知; the same for 6- and 8-digit numbers)."""
    body, check = number[:-1], int(number[-1])
    total = 0
    for i, ch in enumerate(reversed(body)):
        product = int(ch) * (2 if i % 2 == 0 else 1)
        total += product // 10 + product % 10
    return (10 - total % 10) % 10 == check


def _check_iryo(row: Row) -> PeriodRow | None:
    key = _common(row)
    insurer = row.text("保険者番号")
    kind = row.choice("保険者種別", tuple(INSURER_KINDS))
    symbol = row.text("記号", required=False, max_len=20)
    number = row.text("番号", max_len=20)
    insured = row.choice("本人家族区分", ("本人", "家族"))
    if insurer is not None:
        if not (insurer.isascii() and insurer.isdigit() and len(insurer) in (6, 8)):
            row.error("保険者番号", "6桁または8桁の半角数字です")
        elif not insurer_number_ok(insurer):
            row.error("保険者番号", "検証番号（末尾1桁）が正しくありません")
        elif kind is not None:
            prefixes = INSURER_KINDS[kind]
            if (len(insurer) == 6) != (not prefixes) or (prefixes and insurer[:2] not in prefixes):
                row.error("保険者番号", f"保険者種別（{kind}）の保険者番号ではありません")
    for name, value in (("記号", symbol), ("番号", number)):
        if value is None:
            continue
        if contains_my_number(value):
            # A 個人番号 in a 記号・番号 column (a wrong column mapping) must never be stored here.
            row.error(name, "個人番号と思われる値は記録できません")
        elif not _SYMBOL_RE.fullmatch(value):
            row.error(name, "使用できない文字があります")
    if kind == "後期高齢" and insured == "家族":
        row.error("本人家族区分", "後期高齢者医療に被扶養者（家族）はありません")
    period = _period(row, "資格取得日", "資格喪失日", end_inclusive=False)
    if key is None or period is None or not row.ok:
        return None
    values = {
        "insurer_no": insurer,
        "insurer_kind": kind,
        "symbol": symbol,
        "number": number,
        "insured_kind": insured,
    }
    return PeriodRow(row.line_no, key[1], key[0], period[0], period[1], values)


def _check_overlaps(rows: list[PeriodRow], errors: list[RowError]) -> None:
    """Two periods of one person in the same file may not overlap (one status at a time)."""
    by_person: dict[str, list[PeriodRow]] = {}
    for r in rows:
        by_person.setdefault(r.person_no, []).append(r)
    for person_no, periods in by_person.items():
        if len(periods) < 2:
            continue
        periods.sort(key=lambda p: p.start)
        for before, after in pairwise(periods):
            if before.end is None or after.start < before.end:
                errors.append(
                    RowError(after.line_no, person_no, "", f"{before.line_no}行目の期間と重なっています")
                )


_CHECKS: Final[dict[str, Callable[[Row], Any]]] = {
    "kazei": _check_kazei,
    "seiho": _check_seiho,
    "rofuku": _check_rofuku,
    "iryo": _check_iryo,
}
