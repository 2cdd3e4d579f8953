"""The pure rules of 介護保険 被保険者資格 (資格管理): dates, categories, facility types.

No database here: the service applies these to the identity hub's facts. Periods are half-open
``[acquired_on, lost_on)``: 喪失日 is the first day a person is no longer insured, which is how the
law states it (介護保険法第11条 「…の翌日から、その資格を喪失する」).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, timedelta

from kiban.shared.age import age_on, attainment_date

__all__ = [
    "CATEGORY1_AGE",
    "CATEGORY2_MIN_AGE",
    "FACILITY_TYPES",
    "AcquisitionReason",
    "Category",
    "FacilityRule",
    "FacilityType",
    "LossReason",
    "category1_acquisition_date",
    "category_on",
    "facility_type",
    "loss_date",
    "loss_date_on_exempt_admission",
]

# 介護保険法第9条第1号: 市町村の区域内に住所を有する65歳以上の者 (第1号被保険者);
# 第2号: 40歳以上65歳未満の医療保険加入者.
CATEGORY1_AGE = 65
CATEGORY2_MIN_AGE = 40
_ONE_DAY = timedelta(days=1)


class Category(enum.IntEnum):
    """被保険者区分."""

    FIRST = 1  # 第1号被保険者 (法第9条第1号)
    SECOND = 2  # 第2号被保険者 (法第9条第2号)

    @property
    def label(self) -> str:
        return "第1号被保険者" if self is Category.FIRST else "第2号被保険者"


class AcquisitionReason(enum.StrEnum):
    """資格取得事由 (法第10条)."""

    MOVED_IN = "01"  # 転入 (法第10条第1号: 住所を有するに至った日)
    AGE_65 = "02"  # 65歳到達 (法第10条第3号)
    LEFT_EXEMPT_FACILITY = "03"  # 適用除外施設の退所 (施行法第11条)
    CATEGORY2 = "04"  # 第2号被保険者の資格 (医療保険加入・認定申請) (法第10条第2号・第4号)
    EX_OFFICIO = "09"  # 職権

    @property
    def label(self) -> str:
        return _ACQ_LABELS[self]


_ACQ_LABELS = {
    AcquisitionReason.MOVED_IN: "転入",
    AcquisitionReason.AGE_65: "65歳到達",
    AcquisitionReason.LEFT_EXEMPT_FACILITY: "適用除外施設退所",
    AcquisitionReason.CATEGORY2: "第2号被保険者",
    AcquisitionReason.EX_OFFICIO: "職権取得",
}


class LossReason(enum.StrEnum):
    """資格喪失事由 (法第11条)."""

    MOVED_OUT = "01"  # 転出
    DIED = "02"  # 死亡
    ENTERED_EXEMPT_FACILITY = "03"  # 適用除外施設への入所 (施行法第11条)
    LEFT_MEDICAL_INSURANCE = "04"  # 第2号: 医療保険加入者でなくなった (法第11条第2項)
    BECAME_CATEGORY1 = "05"  # 第2号が65歳に到達し第1号へ (区分変更: 第2号の期間はその前日まで)
    EX_OFFICIO = "09"  # 職権

    @property
    def label(self) -> str:
        return _LOSS_LABELS[self]


_LOSS_LABELS = {
    LossReason.MOVED_OUT: "転出",
    LossReason.DIED: "死亡",
    LossReason.ENTERED_EXEMPT_FACILITY: "適用除外施設入所",
    LossReason.LEFT_MEDICAL_INSURANCE: "医療保険脱退",
    LossReason.BECAME_CATEGORY1: "第1号へ区分変更",
    LossReason.EX_OFFICIO: "職権喪失",
}


def category1_acquisition_date(birth: date, resident_from: date) -> date:
    """第1号被保険者の資格取得日 (法第9条第1号・第10条).

    The later of the day the person attains 65 (the day before the 65th birthday: 年齢計算ニ関スル
    法律, 民法第143条 — ``kiban.shared.age``) and the day they came to live in the city (転入日,
    法第10条第1号). Born 1 April 1961 → 31 March 2026; born 29 February → 28 February.
    """
    return max(attainment_date(birth, CATEGORY1_AGE), resident_from)


def category_on(birth: date, on: date) -> Category | None:
    """The category a resident's age allows on ``on`` (第2号 also needs 医療保険; the caller checks)."""
    age = age_on(birth, on)
    if age >= CATEGORY1_AGE:
        return Category.FIRST
    if age >= CATEGORY2_MIN_AGE:
        return Category.SECOND
    return None


def loss_date(reason: LossReason, event_on: date, *, abroad: bool = False) -> date:
    """資格喪失日 for an event on ``event_on`` (法第11条第1項).

    「住所を有しなくなった日の翌日から、その資格を喪失する。ただし、…住所を有しなくなった日に他の
    市町村の区域内に住所を有するに至ったときは、その日から」: a move to another city in Japan loses
    the status on the 転出日 itself (the new city insures from that day — no gap, no overlap); a move
    abroad (国外転出) and a death lose it the day after. 適用除外施設への入所: the day after
    admission (施行法第11条; see :func:`loss_date_on_exempt_admission`).
    """
    if reason is LossReason.MOVED_OUT:
        return event_on + _ONE_DAY if abroad else event_on
    if reason in (LossReason.DIED, LossReason.ENTERED_EXEMPT_FACILITY):
        return event_on + _ONE_DAY
    return event_on


def loss_date_on_exempt_admission(admitted_on: date) -> date:
    """適用除外施設に入所した者は被保険者としない (介護保険法施行法第11条第1項, 施行規則第170条):
    the status ends the day after admission; it is acquired again on the day of discharge."""
    return admitted_on + _ONE_DAY


class FacilityRule(enum.StrEnum):
    """What living in a facility means for 介護保険."""

    SPECIAL_ADDRESS = "special_address"  # 住所地特例対象施設 (法第13条): the former city stays insurer
    EXEMPT = "exempt"  # 適用除外施設 (施行法第11条): not insured while admitted
    NONE = "none"  # neither (e.g. 地域密着型: the city where it stands insures)


@dataclass(frozen=True)
class FacilityType:
    code: str
    label: str
    rule: FacilityRule
    basis: str
    since: date | None = None  # the rule applies to admissions from this day
    until: date | None = None  # the type exists until this day (inclusive)

    def rule_on(self, on: date) -> FacilityRule:
        """The rule for an admission on ``on`` (before ``since`` the type carried no special rule)."""
        if self.since is not None and on < self.since:
            return FacilityRule.NONE
        return self.rule


# 住所地特例対象施設 (介護保険法第13条第1項): 介護保険施設, 特定施設 (法第8条第11項; 指定の有無を
# 問わない — 介護制度改革information vol.97), 養護老人ホーム. 地域密着型 (定員29人以下) の特定施設・
# 介護老人福祉施設は対象外. サービス付き高齢者向け住宅は有料老人ホームに該当するものが
# 平成27年4月1日から対象 (平成26年法律第83号). 適用除外施設: 施行規則第170条.
FACILITY_TYPES: tuple[FacilityType, ...] = (
    FacilityType("11", "介護老人福祉施設（特別養護老人ホーム）", FacilityRule.SPECIAL_ADDRESS, "法第13条第1項第1号・第8条第27項"),
    FacilityType("12", "介護老人保健施設", FacilityRule.SPECIAL_ADDRESS, "法第13条第1項第1号・第8条第28項"),
    FacilityType("13", "介護医療院", FacilityRule.SPECIAL_ADDRESS, "法第13条第1項第1号・第8条第29項", since=date(2018, 4, 1)),
    FacilityType("14", "介護療養型医療施設", FacilityRule.SPECIAL_ADDRESS, "旧法第8条第26項", until=date(2024, 3, 31)),
    FacilityType("21", "有料老人ホーム", FacilityRule.SPECIAL_ADDRESS, "法第13条第1項第2号・第8条第11項"),
    FacilityType("22", "軽費老人ホーム（ケアハウス）", FacilityRule.SPECIAL_ADDRESS, "法第13条第1項第2号・第8条第11項"),
    FacilityType("23", "養護老人ホーム", FacilityRule.SPECIAL_ADDRESS, "法第13条第1項第3号"),
    FacilityType("24", "サービス付き高齢者向け住宅（有料老人ホームに該当するもの）", FacilityRule.SPECIAL_ADDRESS, "法第13条第1項第2号（平成27年4月1日施行）", since=date(2015, 4, 1)),
    FacilityType("31", "地域密着型特定施設", FacilityRule.NONE, "法第8条第21項（住所地特例の対象外）"),
    FacilityType("32", "地域密着型介護老人福祉施設", FacilityRule.NONE, "法第8条第22項（住所地特例の対象外）"),
    FacilityType("51", "指定障害者支援施設（生活介護・施設入所支援）", FacilityRule.EXEMPT, "施行法第11条第1項、施行規則第170条第1項"),
    FacilityType("52", "医療型障害児入所施設", FacilityRule.EXEMPT, "施行規則第170条第2項第1号"),
    FacilityType("53", "国立重度知的障害者総合施設のぞみの園", FacilityRule.EXEMPT, "施行規則第170条第2項"),
    FacilityType("54", "国立ハンセン病療養所等", FacilityRule.EXEMPT, "施行規則第170条第2項"),
    FacilityType("55", "救護施設（生活保護法第38条第1項第1号）", FacilityRule.EXEMPT, "施行規則第170条第2項"),
    FacilityType("56", "労災特別介護施設", FacilityRule.EXEMPT, "施行規則第170条第2項"),
    FacilityType("57", "療養介護を行う病院（障害者総合支援法）", FacilityRule.EXEMPT, "施行規則第170条第2項"),
)  # fmt: skip

_BY_CODE = {f.code: f for f in FACILITY_TYPES}


def facility_type(code: str) -> FacilityType:
    """The facility type for ``code``; a clear error names the unknown code."""
    try:
        return _BY_CODE[code]
    except KeyError:
        raise ValueError(f"施設種別コード {code!r} は登録されていません") from None
