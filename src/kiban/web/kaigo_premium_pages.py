"""The counter's 介護保険料 試算 screen (第1号被保険者の所得段階と年額), with no database record read.

A 試算 takes the facts the clerk types in (課税状況, 所得) and the insurer's 料率表
(:mod:`kiban.rules.kaigo_premium`), and shows the stage, the annual amount and how they were
reached (:func:`kiban.kaigo.assessment.model.simulate`). It reads no person and changes nothing, so
the form is a GET with query parameters (bookmarkable, no CSRF token) and no access-log row is
written for a 試算 that passes. It is still staff-only: any 介護保険 grant (照会のみ is enough),
checked by the guard, whose refusals are logged as always. The 処理事由 is 保険料の賦課
(``kaigo.assessment``).

The input parsing and the mapping of the rules' refusals to a form field are shared with the JSON
API (:mod:`kiban.web.kaigo_premium_api`).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine

from kiban.kaigo.assessment.model import (
    AssessmentError,
    ContradictoryFacts,
    FiscalYearNotCovered,
    PremiumFacts,
    PremiumResult,
    UnknownInsurer,
    UnverifiedStage,
    simulate,
)
from kiban.rules.kaigo_premium import PremiumTable, load_table, table_keys
from kiban.security import guard
from kiban.security.context import AccessContext, Action, Business
from kiban.shared import clock
from kiban.shared.fiscal import fiscal_year, wareki_fiscal_year_label
from kiban.web import deps
from kiban.web.nav import MenuItem, register
from kiban.web.session import access
from kiban.web.templating import render

router = APIRouter(include_in_schema=False)
PURPOSE = "kaigo.assessment"  # 保険料の賦課 (security.purpose seed)
PATH = "/kaigo/premium/simulate"

register(MenuItem("kaigo-premium", "保険料試算", PATH, Business.KAIGO))

FLAGS: dict[str, str] = {
    "welfare": "生活保護受給中",
    "old_age_welfare_pension": "老齢福祉年金受給者",
    "household_exempt": "世帯全員が住民税非課税",
    "self_exempt": "本人が住民税非課税",
}
AMOUNTS: dict[str, str] = {
    "total_income": "合計所得金額（特別控除後）",
    "pension_income": "課税年金収入額",
    "pension_misc_income": "公的年金等に係る雑所得",
}
BASE_LABEL = "基準額（年額）"


def premium_access(
    engine: Annotated[Engine, Depends(deps.engine)],
    ctx: Annotated[AccessContext, Depends(access(Business.KAIGO, PURPOSE))],
) -> AccessContext:
    """A 介護保険 grant of any rank, checked by the guard before anything else is read.

    Run as a dependency so that the check (and the logging of a refusal) happens before the
    request body of the API is even looked at. A 試算 reads no person: no access-log row on success.
    """
    with engine.begin() as conn:
        guard.require(conn, ctx, action=Action.VIEW, min_rank=0, log=False)
    return ctx


Premium = Annotated[AccessContext, Depends(premium_access)]


class InputError(ValueError):
    """A value of the 試算 that cannot be read; ``field`` names the input (the API's key)."""

    def __init__(self, message: str, field: str | None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class SimulationInput:
    """A 試算 request after parsing: which table, which 年度, the facts and an optional 基準額."""

    insurer: str
    fiscal_year: int
    facts: PremiumFacts
    base_annual: int | None


def make_facts(flags: dict[str, bool], amounts: dict[str, int]) -> PremiumFacts:
    """The facts from the parsed checkboxes (keys of FLAGS) and yen amounts (keys of AMOUNTS)."""
    return PremiumFacts(
        welfare=flags["welfare"],
        old_age_welfare_pension=flags["old_age_welfare_pension"],
        household_exempt=flags["household_exempt"],
        self_exempt=flags["self_exempt"],
        total_income=amounts["total_income"],
        pension_income=amounts["pension_income"],
        pension_misc_income=amounts["pension_misc_income"],
    )


def error_field(exc: Exception, facts: PremiumFacts | None) -> str | None:
    """The input a refusal of the rules is about (for the API's ``field`` and the form's focus)."""
    if isinstance(exc, InputError):
        return exc.field
    if isinstance(exc, UnknownInsurer):
        return "insurer"
    if isinstance(exc, FiscalYearNotCovered):
        return "fiscal_year"
    if isinstance(exc, UnverifiedStage):
        return "total_income"
    if isinstance(exc, ContradictoryFacts) and facts is not None:
        # PremiumFacts.check: 世帯非課税 without 本人非課税, else 雑所得 above 課税年金収入額.
        return "self_exempt" if facts.household_exempt and not facts.self_exempt else "pension_misc_income"
    return None


def run(req: SimulationInput) -> PremiumResult:
    """The 試算 itself (UnknownInsurer, FiscalYearNotCovered, AssessmentError on refusal)."""
    return simulate(req.insurer, req.fiscal_year, req.facts, base_annual=req.base_annual)


Refused = (InputError, UnknownInsurer, FiscalYearNotCovered, AssessmentError)


def error_message(exc: Exception) -> str:
    return str(exc.args[0]) if exc.args else str(exc)


# -- form parsing -----------------------------------------------------------------------------------


def _yen_text(text: str, label: str, field: str, *, required: bool) -> int | None:
    """Yen as typed at a counter: 1200000, 1,200,000, １２０００００, 1200000円 (not 120万)."""
    value = unicodedata.normalize("NFKC", text or "").strip().replace(",", "").removesuffix("円").strip()
    if not value:
        return 0 if required else None
    if not value.isascii() or not value.isdigit():
        raise InputError(f"{label}は円単位の0以上の整数で入力してください（例: 1200000）: {text}", field)
    return int(value)


def parse_form(params: dict[str, str]) -> SimulationInput:
    """The query string of the form → a request (InputError for what cannot be read)."""
    insurer = params.get("insurer", "").strip()
    if not insurer:
        raise InputError("保険者（料率表）を選んでください", "insurer")
    year_text = unicodedata.normalize("NFKC", params.get("fiscal_year", "")).strip()
    if not year_text.isascii() or not year_text.isdigit():
        raise InputError("年度を選んでください", "fiscal_year")
    amounts = {
        name: _yen_text(params.get(name, ""), label, name, required=True) for name, label in AMOUNTS.items()
    }
    base = _yen_text(params.get("base_annual", ""), BASE_LABEL, "base_annual", required=False)
    if base == 0:
        raise InputError(f"{BASE_LABEL}は1円以上で入力してください（空欄なら料率表の基準額）", "base_annual")
    flags = {name: bool(params.get(name)) for name in FLAGS}
    facts = make_facts(flags, {name: int(v or 0) for name, v in amounts.items()})
    return SimulationInput(insurer, int(year_text), facts, base)


# -- the screen -------------------------------------------------------------------------------------


def _years_label(table: PremiumTable) -> str:
    first, last = table.fiscal_years[0], table.fiscal_years[-1]
    span = wareki_fiscal_year_label(first)
    if last != first:
        span += "〜" + wareki_fiscal_year_label(last)
    return span


def _choices() -> dict[str, Any]:
    tables = [load_table(key) for key in table_keys()]
    years = sorted({y for tbl in tables for y in tbl.fiscal_years})
    return {
        "insurers": [
            {
                "key": tbl.key,
                "label": f"{tbl.name}（{tbl.period}・{_years_label(tbl)}）",
                "name": tbl.name,
                "base_annual": tbl.base_annual,
                "years": tbl.fiscal_years,
            }
            for tbl in tables
        ],
        "years": [{"value": y, "label": f"{wareki_fiscal_year_label(y)}（{y}年度）"} for y in years],
        "default_year": fiscal_year(clock.today()) if fiscal_year(clock.today()) in years else years[-1],
    }


def monthly_reference(annual: int) -> int:
    """年額 ÷ 12, 1円未満切捨て — a reference only (the real 納期 amounts are set at 本算定)."""
    return int((Decimal(annual) / 12).to_integral_value(ROUND_DOWN))


def exact_text(amount: Decimal) -> str:
    """基準額 × 割合 before rounding: 21888.000 → 21,888円; 21546.0 → 21,546円; 21289.5 → 21,289.5円."""
    if amount == amount.to_integral_value():
        return f"{int(amount):,}円"
    return format(amount, ",f").rstrip("0").rstrip(".") + "円"


@router.get(PATH, response_class=HTMLResponse)
def simulate_page(request: Request, ctx: Premium) -> HTMLResponse:
    params = dict(request.query_params)
    choices = _choices()
    form: dict[str, Any] = {"fiscal_year": str(choices["default_year"])} | params
    result = error = field = None
    facts: PremiumFacts | None = None
    if "insurer" in params:  # the form was sent (the select is always sent)
        try:
            req = parse_form(params)
            facts = req.facts
            result = run(req)
        except Refused as exc:
            error, field = error_message(exc), error_field(exc, facts)
    context = {
        "active": "kaigo-premium",
        "form": form,
        "flags": FLAGS,
        "amounts": AMOUNTS,
        "result": result,
        "monthly": monthly_reference(result.annual_premium) if result else None,
        "exact": exact_text(result.exact_amount) if result else None,
        "facts": {name: getattr(facts, name) for name in (*FLAGS, *AMOUNTS)} if facts else {},
        "facts_on": [label for name, label in FLAGS.items() if facts and getattr(facts, name)],
        "error": error,
        "error_field": field,
    } | choices
    return render(request, "kaigo/premium_simulate.html", context, 422 if error else 200)
