"""JSON API of the 介護保険料 試算: ``POST /api/v1/kaigo/premium/simulate``.

The answer is the CLI's JSON contract, :meth:`PremiumResult.to_dict` (``kiban kaigo premium
simulate --json``). Same guard as the screen (any 介護保険 grant, 処理事由 ``kaigo.assessment``);
no person is read, so a 試算 that passes writes no access-log row.

A refusal is a 422 ``{"detail": message, "error": message, "field": key}``: ``detail`` is the
shape of the other /api/v1/kaigo endpoints, ``error``/``field`` name the offending input (``field``
is null when the message is about the body as a whole). A body sent as anything but JSON is a 415
of the same shape. The body is read strictly: an unknown key (a typo such as
``household_exemption``) is refused rather than silently taken as false.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from kiban.web.kaigo_premium_pages import (
    AMOUNTS,
    BASE_LABEL,
    FLAGS,
    InputError,
    Premium,
    Refused,
    SimulationInput,
    error_field,
    error_message,
    make_facts,
    run,
)

router = APIRouter(prefix="/api/v1/kaigo/premium", tags=["kaigo"])


class SimulateBody(BaseModel):
    """The request body (documentation only: the body is checked by :func:`parse_body`)."""

    insurer: str = Field(description="料率表のキー（table_keys(): koriyama, kumamoto, standard）")
    fiscal_year: int = Field(description="賦課年度（西暦、例: 2025）")
    welfare: bool = Field(False, description="生活保護受給中")
    old_age_welfare_pension: bool = Field(False, description="老齢福祉年金受給者")
    household_exempt: bool = Field(False, description="世帯全員が住民税非課税")
    self_exempt: bool = Field(False, description="本人が住民税非課税")
    total_income: int = Field(0, ge=0, description="合計所得金額（長期・短期譲渡所得の特別控除後、円）")
    pension_income: int = Field(0, ge=0, description="課税年金収入額（円）")
    pension_misc_income: int = Field(0, ge=0, description="公的年金等に係る雑所得（円）")
    base_annual: int | None = Field(None, ge=1, description="基準額（年額、円）。省略時は料率表の基準額")


KEYS = tuple(SimulateBody.model_fields)


def _int(body: dict[str, Any], key: str, label: str, default: int) -> int:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{label}（{key}）は整数で指定してください: {value!r}", key)
    return value


def parse_body(body: Any) -> SimulationInput:
    """The JSON body → a request (InputError, with the key, for anything that cannot be taken)."""
    if not isinstance(body, dict):
        raise InputError("リクエスト本文は JSON オブジェクトで指定してください", None)
    unknown = sorted(str(k) for k in body if k not in KEYS)
    if unknown:
        raise InputError(
            f"不明な項目です: {', '.join(unknown)}（指定できる項目: {', '.join(KEYS)}）", unknown[0]
        )
    insurer = body.get("insurer")
    if not isinstance(insurer, str) or not insurer.strip():
        raise InputError("保険者（insurer）を料率表のキーで指定してください（例: kumamoto）", "insurer")
    if "fiscal_year" not in body:
        raise InputError("年度（fiscal_year）を西暦で指定してください（例: 2025）", "fiscal_year")
    year = _int(body, "fiscal_year", "年度", 0)
    flags: dict[str, bool] = {}
    for key, label in FLAGS.items():
        value = body.get(key, False)
        if not isinstance(value, bool):
            raise InputError(f"{label}（{key}）は true / false で指定してください: {value!r}", key)
        flags[key] = value
    amounts: dict[str, int] = {}
    for key, label in AMOUNTS.items():
        value = _int(body, key, label, 0)
        if value < 0:
            raise InputError(f"{label}（{key}）は0円以上で指定してください: {value:,}円", key)
        amounts[key] = value
    base = None if body.get("base_annual") is None else _int(body, "base_annual", BASE_LABEL, 0)
    if base is not None and base <= 0:
        raise InputError(f"{BASE_LABEL}（base_annual）は1円以上で指定してください: {base:,}円", "base_annual")
    return SimulationInput(insurer.strip(), year, make_facts(flags, amounts), base)


def _refusal(message: str, field: str | None, status_code: int = 422) -> JSONResponse:
    return JSONResponse({"detail": message, "error": message, "field": field}, status_code=status_code)


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


@router.post(
    "/simulate",
    summary="介護保険料（第1号被保険者）の試算: 所得段階・年額と判定の根拠",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": SimulateBody.model_json_schema()}},
        }
    },
)
async def simulate_premium(request: Request, ctx: Premium) -> Any:
    if not _is_json(request.headers.get("content-type", "")):
        # A form post has already been read for its CSRF token; only JSON is taken here.
        return _refusal("リクエスト本文は JSON（Content-Type: application/json）で送ってください", None, 415)
    try:
        body = json.loads(await request.body() or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError):
        return _refusal("リクエスト本文を JSON として読めません", None)
    facts = None
    try:
        req = parse_body(body)
        facts = req.facts
        result = run(req)
    except Refused as exc:
        return _refusal(error_message(exc), error_field(exc, facts))
    return result.to_dict()
