"""Reading the facts other businesses need (他業務向け情報の照会): 住民税 課税情報, 世帯の課税状況,
生活保護・老齢福祉年金・医療保険 on a day, and everything of one person for the detail screen.

介護保険 賦課 sets a 第1号被保険者's 保険料段階 from their own and their household's 住民税 status,
生活保護 and 老齢福祉年金 (介護保険法施行令第38条; seed 000: 世帯構成、地方税情報及び生活保護関係情報を
突合して、保険料額を確認する). Every function passes the guard and writes the access-log row (domain.md
§10.7); results are frozen dataclasses without a 個人番号 (there is none in these tables). Rows that
were superseded (更正・訂正) are returned only by ``facts_summary``, flagged, for the history view.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from kiban.identity import repo
from kiban.identity import tables as t
from kiban.identity.repo import IdentityError
from kiban.security import audit, guard
from kiban.security.context import AccessContext, Action

_DAY = timedelta(days=1)


@dataclass(frozen=True)
class TaxIncome:
    """住民税 課税情報 of one person and 年度 (所得は前年分; amounts in yen)."""

    person_no: str
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
    import_id: int | None
    recorded_at: datetime
    superseded_at: datetime | None

    @property
    def status(self) -> str:
        return "課税" if self.taxable else "非課税"

    @property
    def total_income_less_special_deduction(self) -> int:
        """合計所得金額 less the 長期譲渡所得等の特別控除額 (0 at least): the amount 介護保険法施行令
        第38条第4項 reads for the 保険料段階 where 租税特別措置法 special deductions apply."""
        return max(0, self.total_income - self.capital_gains_deduction)


@dataclass(frozen=True)
class MemberTaxStatus:
    """One member of a household and their 住民税 status for the 年度 (None: no 課税情報 recorded)."""

    person_no: str
    relation: str
    is_head: bool
    taxable: bool | None
    nontaxable_reason: str | None

    @property
    def status(self) -> str:
        return "課税情報なし" if self.taxable is None else ("課税" if self.taxable else "非課税")


@dataclass(frozen=True)
class HouseholdTaxStatus:
    """世帯の課税状況 on a day: each member's status and whether the whole household is 非課税.

    ``household_exempt`` is True only when every member has a 課税情報 row and it says 非課税
    (世帯非課税); False when any member is 課税; None when no one is 課税 but someone has no row
    (未申告 etc. — the business decides: 介護保険 asks for a 申告)."""

    household_no: str | None  # None: the person belongs to no household on that day (住登外)
    fiscal_year: int
    on: date
    members: tuple[MemberTaxStatus, ...]

    @property
    def any_taxable(self) -> bool:
        return any(m.taxable for m in self.members)

    @property
    def unknown(self) -> tuple[str, ...]:
        return tuple(m.person_no for m in self.members if m.taxable is None)

    @property
    def household_exempt(self) -> bool | None:
        if self.any_taxable:
            return False
        return None if self.unknown or not self.members else True


@dataclass(frozen=True)
class WelfarePeriod:
    """生活保護 受給期間. ``end`` is the 保護廃止日 as the source gives it: the last day of assistance."""

    person_no: str
    household_no: str | None
    start: date
    end: date | None
    welfare_office: str | None
    proxy_payment: bool
    import_id: int | None
    recorded_at: datetime
    superseded_at: datetime | None


@dataclass(frozen=True)
class PensionPeriod:
    """老齢福祉年金 受給期間. ``end`` is the 受給停止日: the last day the pension was received."""

    person_no: str
    start: date
    end: date | None
    import_id: int | None
    recorded_at: datetime
    superseded_at: datetime | None


@dataclass(frozen=True)
class MedicalInsurance:
    """医療保険 加入情報. ``lost_on`` is the 資格喪失日: the first day without the insurance."""

    person_no: str
    insurer_no: str
    insurer_kind: str
    symbol: str | None
    number: str | None
    insured_kind: str
    acquired_on: date
    lost_on: date | None
    import_id: int | None
    recorded_at: datetime
    superseded_at: datetime | None


@dataclass(frozen=True)
class FactsSummary:
    """Everything the hub holds about one person for other businesses (照会画面), newest first,
    superseded rows included (``superseded_at`` set: shown as 訂正前)."""

    person_no: str
    tax_incomes: tuple[TaxIncome, ...]
    welfare: tuple[WelfarePeriod, ...]
    pensions: tuple[PensionPeriod, ...]
    insurances: tuple[MedicalInsurance, ...]


def _tax(person_no: str, r: Any) -> TaxIncome:
    return TaxIncome(
        person_no,
        r.fiscal_year,
        r.taxable,
        r.nontaxable_reason,
        r.salary_income,
        r.salary_net,
        r.public_pension_income,
        r.pension_misc_income,
        r.other_income,
        r.total_income,
        r.capital_gains_deduction,
        r.dependants,
        r.import_id,
        r.recorded_at,
        r.superseded_at,
    )


def _last_day(upper: date | None) -> date | None:
    return upper - _DAY if upper is not None else None


def _welfare(person_no: str, r: Any) -> WelfarePeriod:
    return WelfarePeriod(
        person_no,
        r.household_no,
        r.valid.lower,
        _last_day(r.valid.upper),
        r.welfare_office,
        r.proxy_payment,
        r.import_id,
        r.recorded_at,
        r.superseded_at,
    )


def _pension(person_no: str, r: Any) -> PensionPeriod:
    return PensionPeriod(
        person_no, r.valid.lower, _last_day(r.valid.upper), r.import_id, r.recorded_at, r.superseded_at
    )


def _insurance(person_no: str, r: Any) -> MedicalInsurance:
    return MedicalInsurance(
        person_no,
        r.insurer_no,
        r.insurer_kind,
        r.symbol,
        r.number,
        r.insured_kind,
        r.valid.lower,
        r.valid.upper,
        r.import_id,
        r.recorded_at,
        r.superseded_at,
    )


def tax_income_of(conn: Connection, ctx: AccessContext, person_no: str, fiscal_year: int) -> TaxIncome | None:
    """住民税 課税情報 of a person for a 年度 (the current row), or None when none was imported."""
    guard.require(
        conn,
        ctx,
        action=Action.VIEW,
        subjects=[person_no],
        detail={"item": "住民税課税情報", "fiscal_year": fiscal_year},
    )
    ref = repo.ref_by_no(conn, person_no)
    row = conn.execute(
        select(t.tax_income).where(
            t.tax_income.c.person_id == ref.person_id,
            t.tax_income.c.fiscal_year == fiscal_year,
            t.tax_income.c.superseded_at.is_(None),
        )
    ).first()
    return _tax(person_no, row) if row is not None else None


def household_tax_status(
    conn: Connection,
    ctx: AccessContext,
    *,
    fiscal_year: int,
    on: date,
    person_no: str | None = None,
    household_no: str | None = None,
) -> HouseholdTaxStatus:
    """The 住民税 status of every member of a household on ``on`` (give ``household_no``, or
    ``person_no`` for the household the person belonged to that day). Logged with every member."""
    if (person_no is None) == (household_no is None):
        raise IdentityError("宛名番号または世帯番号のどちらか一方を指定してください")
    guard.require(conn, ctx, action=Action.VIEW, subjects=[person_no] if person_no else [], log=False)
    household_id: int | None = None
    alone: list[tuple[int, str, bool]] = []
    if person_no is not None:
        ref = repo.ref_by_no(conn, person_no)
        alone = [(ref.person_id, "", False)]
        household_id = conn.execute(
            select(t.household_member.c.household_id).where(
                t.household_member.c.person_id == ref.person_id,
                t.household_member.c.superseded_at.is_(None),
                t.household_member.c.valid.contains(on),
            )
        ).scalar()
    else:
        household_id = conn.execute(
            select(t.household.c.household_id).where(t.household.c.household_no == household_no)
        ).scalar()
        if household_id is None:
            raise IdentityError(f"世帯番号 {household_no} の世帯は登録されていません")
    if household_id is not None:
        members = repo.household_members(conn, int(household_id), on=on)
        number = members[0].household_no if members else household_no
        people = [(m.person_id, m.relation, m.is_head) for m in members]
    else:  # no household that day (住登外): the person alone
        number = None
        people = alone
    ids = [p[0] for p in people]
    nos: dict[int, str] = {
        r.person_id: r.person_no
        for r in conn.execute(
            select(t.person.c.person_id, t.person.c.person_no).where(t.person.c.person_id.in_(ids))
        )
    }
    taxes = {
        r.person_id: r
        for r in conn.execute(
            select(t.tax_income.c.person_id, t.tax_income.c.taxable, t.tax_income.c.nontaxable_reason).where(
                t.tax_income.c.person_id.in_(ids),
                t.tax_income.c.fiscal_year == fiscal_year,
                t.tax_income.c.superseded_at.is_(None),
            )
        )
    }
    statuses = tuple(
        MemberTaxStatus(
            nos[pid],
            relation,
            is_head,
            taxes[pid].taxable if pid in taxes else None,
            taxes[pid].nontaxable_reason if pid in taxes else None,
        )
        for pid, relation, is_head in people
    )
    audit.record(
        conn,
        ctx,
        action=Action.VIEW,
        subjects=[m.person_no for m in statuses],
        detail={"item": "世帯課税状況", "fiscal_year": fiscal_year, "on": on, "household_no": number},
    )
    return HouseholdTaxStatus(number, fiscal_year, on, statuses)


def _period_on(conn: Connection, ctx: AccessContext, person_no: str, on: date, table: Any, item: str) -> Any:
    guard.require(conn, ctx, action=Action.VIEW, subjects=[person_no], detail={"item": item, "on": on})
    ref = repo.ref_by_no(conn, person_no)
    return conn.execute(
        select(table).where(
            table.c.person_id == ref.person_id, table.c.superseded_at.is_(None), table.c.valid.contains(on)
        )
    ).first()


def welfare_on(conn: Connection, ctx: AccessContext, person_no: str, on: date) -> WelfarePeriod | None:
    """The 生活保護 period the person was in on ``on`` (None: not assisted that day)."""
    row = _period_on(conn, ctx, person_no, on, t.welfare_period, "生活保護")
    return _welfare(person_no, row) if row is not None else None


def old_age_pension_on(
    conn: Connection, ctx: AccessContext, person_no: str, on: date
) -> PensionPeriod | None:
    """The 老齢福祉年金 period the person was in on ``on`` (None: not a recipient that day)."""
    row = _period_on(conn, ctx, person_no, on, t.old_age_pension_period, "老齢福祉年金")
    return _pension(person_no, row) if row is not None else None


def medical_insurance_on(
    conn: Connection, ctx: AccessContext, person_no: str, on: date
) -> MedicalInsurance | None:
    """The 医療保険 the person was insured by on ``on`` (None: none recorded for that day)."""
    row = _period_on(conn, ctx, person_no, on, t.medical_insurance, "医療保険")
    return _insurance(person_no, row) if row is not None else None


def facts_summary(conn: Connection, ctx: AccessContext, person_no: str) -> FactsSummary:
    """All 年度 and periods of one person (照会画面), superseded rows included and flagged."""
    guard.require(conn, ctx, action=Action.VIEW, subjects=[person_no], detail={"item": "他業務向け情報"})
    ref = repo.ref_by_no(conn, person_no)

    def rows(table: Any, *order: Any) -> list[Any]:
        return list(
            conn.execute(
                select(table)
                .where(table.c.person_id == ref.person_id)
                .order_by(*order, table.c.superseded_at.is_not(None), table.c.recorded_at.desc())
            )
        )

    def by_start(table: Any) -> list[Any]:
        return rows(table, func.lower(table.c.valid).desc())

    return FactsSummary(
        person_no,
        tuple(_tax(person_no, r) for r in rows(t.tax_income, t.tax_income.c.fiscal_year.desc())),
        tuple(_welfare(person_no, r) for r in by_start(t.welfare_period)),
        tuple(_pension(person_no, r) for r in by_start(t.old_age_pension_period)),
        tuple(_insurance(person_no, r) for r in by_start(t.medical_insurance)),
    )


__all__ = [
    "FactsSummary",
    "HouseholdTaxStatus",
    "MedicalInsurance",
    "MemberTaxStatus",
    "PensionPeriod",
    "TaxIncome",
    "WelfarePeriod",
    "facts_summary",
    "household_tax_status",
    "medical_insurance_on",
    "old_age_pension_on",
    "tax_income_of",
    "welfare_on",
]
