"""The scenario lab's "next days as forecast": a scenario whose demand is the newest forecast run
(:attr:`borderflow.sim.scenario.Demand.forecast`), every other setting the baseline's, so the
regulator can see the days ahead — waits, queues, roads — before they come, each replication
drawing the days' trucks from the forecast's distribution."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from borderflow.clock import LOCAL_TZ
from borderflow.config import DEFAULT_SCENARIOS_DIR
from borderflow.demand import service
from borderflow.sim import scenario as scenarios

NAME = "forecast"
"""The name the forecast scenario goes by among a comparison's scenario files."""
BASELINE = DEFAULT_SCENARIOS_DIR / "lang-son-baseline.yaml"
MAX_DAYS = 28


def document(session: Session, *, today: date, days: int = 7,
             baseline: Path = BASELINE) -> dict[str, Any] | None:
    """The scenario document for the ``days`` after ``today`` as the newest run forecasts
    them; None when no run covers tomorrow."""
    first = today + timedelta(days=1)
    rows = service.latest(session, first=first,
                          last=first + timedelta(days=min(days, MAX_DAYS) - 1))
    if not rows or min(r.day for r in rows) != first:
        return None
    span = (max(r.day for r in rows) - first).days + 1
    run = rows[0]
    base = scenarios.read_document(baseline)
    made = run.created_at.astimezone(LOCAL_TZ)
    change = {
        "name": {"vi": "Những ngày tới theo dự báo", "en": "The next days as forecast",
                 "zh": "按预测的未来几天"},
        "description": {
            "vi": f"Từ {first:%d/%m/%Y}, tối đa {span} ngày: nhu cầu theo dự báo lập lúc "
                  f"{made:%H:%M} ngày {made:%d/%m/%Y}; các thiết lập khác như kịch bản cơ sở.",
            "en": f"From {first:%d/%m/%Y}, up to {span} days: demand as forecast at "
                  f"{made:%H:%M} on {made:%d/%m/%Y}; everything else as the baseline.",
            "zh": f"自{first.year}年{first.month}月{first.day}日起，最多{span}天：需求取自"
                  f"{made.year}年{made.month}月{made.day}日{made:%H:%M}生成的预测；"
                  "其余设置同基准情景。"},
        "start": first.isoformat(), "days": span, "warmup_days": 0,
        "demand": {"forecast": [
            {"date": r.day.isoformat(), "gate": r.gate, "direction": r.direction,
             "mean": r.mean, "lo80": r.lo80, "hi80": r.hi80, "lo95": r.lo95, "hi95": r.hi95}
            for r in rows]},
    }
    doc = scenarios.merge(base, change)
    doc["demand"]["periods"] = []  # the forecast has the days' seasons in it already
    # JSON, as a job's parameters are stored (the file's dates become ISO text)
    out: dict[str, Any] = json.loads(json.dumps(doc, default=str))
    return out
