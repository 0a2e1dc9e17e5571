"""HTTP API of the demand forecasts: the newest forecasts per gate, direction and day with their
intervals and the hourly profile to spread a day over its hours; a refresh on demand; the
weather file."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Depends, Header, Query, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from borderflow.api.deps import Ctx, Db, request_session, require, roles_doc
from borderflow.api.errors import ERROR_RESPONSES, ErrorResponse
from borderflow.api.idempotency import MAX_KEY_LENGTH, Idempotency
from borderflow.demand import advice, service
from borderflow.domain.access import Principal
from borderflow.errors import FieldError, ValidationFailed, msg
from borderflow.network import service as networks

router = APIRouter(prefix="/api/v1", tags=["forecasts"], responses=ERROR_RESPONSES)

READ_ACTION = "forecast.read"
REFRESH_ACTION = "forecast.refresh"
WEATHER_ACTION = "forecast.weather"
Reader = Annotated[Principal, Depends(require(READ_ACTION))]
Refresher = Annotated[Principal, Depends(require(REFRESH_ACTION))]
WeatherImporter = Annotated[Principal, Depends(require(WEATHER_ACTION))]
MAX_DAYS = service.HORIZON
DEFAULT_DAYS = 8


class RunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: datetime
    model_version: str
    origin: date
    horizon: int
    trained_from: date
    trained_to: date
    series: int
    seconds: float
    trigger: str
    actor: str


class ForecastOut(BaseModel):
    gate: str
    direction: str
    date: date
    horizon: int
    mean: float
    lo80: float
    hi80: float
    lo95: float
    hi95: float
    declared: int


class ProfileOut(BaseModel):
    gate: str
    direction: str
    shares: list[float]
    weekdays: list[list[float]]


class ForecastsOut(BaseModel):
    run: RunOut | None
    start: date
    end: date
    forecasts: list[ForecastOut]
    hourly_profiles: list[ProfileOut]


class WeatherOut(BaseModel):
    format: str
    days: int
    first: date
    last: date
    rain_days: int
    storm_days: int


def _shares(values: list[float]) -> list[float]:
    return [round(v, 4) for v in values]


@router.get("/forecasts", summary="Forecast trucks per gate, direction and day",
            description="The newest run's forecasts (refreshed daily, or on demand) for the "
            "local days `from` .. `to` (default tomorrow and the 7 days after; at most "
            f"{MAX_DAYS} days, and a run covers the {service.HORIZON} days from the day after "
            "it was made): the mean number of trucks crossing, its 80 % and 95 % prediction "
            "intervals (`lo80`..`hi80`, `lo95`..`hi95`), the days ahead it was forecast "
            "(`horizon`) and the trucks declared for that day when it was made (`declared`). "
            "`run` says which model version made them, on which days it was trained and when "
            "(null, with no forecasts, before the first run). `hourly_profiles` gives each "
            "gate and direction's shares of a day's trucks per local clock hour 0-23 from the "
            "recorded crossings of the 26 weeks up to the newest recorded day (`shares`: every "
            "day; `weekdays`: Monday "
            "first), uniform without any, to spread a day's forecast over its hours."
            + roles_doc(READ_ACTION))
def get_forecasts(
    ctx: Ctx, db: Db, _caller: Reader,
    gate: Annotated[str | None, Query(description="Only this gate")] = None,
    direction: Annotated[Literal["export", "import"] | None,
                         Query(description="Only this way")] = None,
    start: Annotated[date | None, Query(alias="from", description="First local day "
                                        "(default: tomorrow)")] = None,
    end: Annotated[date | None, Query(alias="to", description="Last local day, included "
                                      "(default: 7 days after `from`)")] = None,
) -> ForecastsOut:
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    if gate is not None and network.gate(gate) is None:
        raise ValidationFailed([FieldError("gate", msg("no gate '{code}' in the network",
                                                       code=gate[:40]))])
    first = start or service.local_today(now) + timedelta(days=1)
    last = end or first + timedelta(days=DEFAULT_DAYS - 1)
    if last < first:
        raise ValidationFailed([FieldError("from", msg("is after 'to'"))])
    if (last - first).days + 1 > MAX_DAYS:
        raise ValidationFailed([FieldError("to", msg("at most {count} days from 'from'",
                                                     count=MAX_DAYS))])
    run = service.newest_run(db)
    rows = service.latest(db, gate=gate, direction=direction, first=first, last=last, run=run)
    series = sorted({(g.code, d) for g in network.gates for d in g.directions
                     if (gate is None or g.code == gate)
                     and (direction is None or d == direction)})
    profiles = [ProfileOut(gate=p.gate, direction=p.direction, shares=_shares(p.shares),
                           weekdays=[_shares(w) for w in p.weekdays])
                for p in service.hourly_profiles(db, series)]
    return ForecastsOut(
        run=RunOut.model_validate(run) if run is not None else None, start=first, end=last,
        forecasts=[ForecastOut(gate=r.gate, direction=r.direction, date=r.day,
                               horizon=r.horizon, mean=r.mean, lo80=r.lo80, hi80=r.hi80,
                               lo95=r.lo95, hi95=r.hi95, declared=r.declared) for r in rows],
        hourly_profiles=profiles)


def _key(raw: str | None) -> str | None:
    key = raw.strip() if raw is not None else None
    if key is not None and not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise ValidationFailed([FieldError("Idempotency-Key", msg(
            "must be 1 to {count} characters", count=MAX_KEY_LENGTH))])
    return key


@router.post("/forecasts/refresh", status_code=201, response_model=RunOut,
             responses={409: {"model": ErrorResponse,
                              "description": "No trucks recorded or imported yet "
                                             "(`no_history`)"}},
             summary="Refresh the forecasts now",
             description="Fits the forecaster on the history up to yesterday and stores a new "
             f"run of every gate and direction for the {service.HORIZON} days from tomorrow "
             "(a few seconds; the reads answer from it at once). 409 `no_history` when no "
             "trucks were recorded or imported yet. An `Idempotency-Key` makes a retry answer "
             "the same run. Audited." + roles_doc(REFRESH_ACTION))
async def refresh_forecasts(
    request: Request, ctx: Ctx, actor: Refresher,
    idempotency_key: Annotated[str | None, Header(
        description="Any unique string; a retry with the same key has exactly one effect.")]
    = None,
) -> Any:
    key = _key(idempotency_key)
    body = await request.body()
    now = ctx.clock.now()

    def idem(session: Any) -> Idempotency:
        return Idempotency(session, actor, key, request.method, request.url.path, body, now)

    # the fit takes seconds: in a read transaction, never holding the write lock
    async with request_session(ctx, request, write=False, caller=actor) as read:
        replayed = await anyio.to_thread.run_sync(idem(read).replay)
        if replayed is not None:
            return replayed

        def fit() -> tuple[service.Prepared, advice.Computed]:
            network = networks.in_force(read, now)
            prepared = service.prepare(read, network, now=now)
            return prepared, advice.compute_advice(network, prepared.rows,
                                                   origin=prepared.origin, now=now)

        prepared, computed = await anyio.to_thread.run_sync(fit)
    async with request_session(ctx, request, write=True, caller=actor) as db:

        def store() -> JSONResponse:
            recorder = idem(db)
            again = recorder.replay()
            if again is not None:
                return again
            run = service.save(db, prepared, now=now, actor=actor, trigger="on_demand")
            advice.save_advice(db, run.id, computed)
            return recorder.respond(run_json(run), status_code=201)

        return await anyio.to_thread.run_sync(store)


def run_json(run: Any) -> dict[str, Any]:
    return RunOut.model_validate(run).model_dump(mode="json")


@router.post("/forecasts/weather", status_code=201, response_model=WeatherOut,
             summary="Import daily weather (CSV)",
             description="Daily rain and storm warnings, past or forecast, as covariates of the "
             "forecasts. Either a plain file with the header `date,rain_mm,storm` (`date` "
             "YYYY-MM-DD and at least one of the others; `rain_mm` a number >= 0, empty for "
             "unknown; `storm` 1/0, true/false or yes/no), or Open-Meteo's daily CSV export as "
             "it is (its location lines, then `time,precipitation_sum (mm),...` or "
             "`rain_sum (mm)`; other columns ignored). Every row is checked first; a file with "
             "any bad row is refused whole (422, each bad line and column named) and nothing "
             "is imported. A day imported again takes the new values of the file's columns. "
             "Audited." + roles_doc(WEATHER_ACTION))
async def import_weather(ctx: Ctx, db: Db, actor: WeatherImporter, file: UploadFile) -> Any:
    data = await file.read(service.WEATHER_MAX_BYTES + 1)
    now = ctx.clock.now()

    def run() -> service.WeatherImport:
        return service.import_weather(db, data, actor=actor, now=now,
                                      source=file.filename or "weather.csv")

    result = await anyio.to_thread.run_sync(run)
    return WeatherOut(format=result.format, days=result.days, first=result.first,
                      last=result.last, rain_days=result.rain_days,
                      storm_days=result.storm_days)

