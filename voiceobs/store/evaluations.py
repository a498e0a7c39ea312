"""SLO evaluations: one row per SLO per pass, what the dashboard draws budget and burn from."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from voiceobs.results import utcnow
from voiceobs.store.base import StoreBase
from voiceobs.store.models import SloEvaluation


class EvaluationsMixin(StoreBase):
    """Recording and reading SLO evaluations."""

    def record_evaluation(
        self,
        *,
        slo_name: str,
        window: str,
        objective: float,
        good: int,
        total: int,
        sli: float | None,
        budget_remaining: float | None,
        burn_rates: dict[str, float | None],
        alert_state: str,
        evaluated_at: datetime | None = None,
    ) -> int:
        """Append one evaluation; the dashboard draws budget and burn from these rows."""
        row = SloEvaluation(
            slo_name=slo_name,
            window=window,
            objective=objective,
            good=good,
            total=total,
            sli=sli,
            budget_remaining=budget_remaining,
            burn_rates=burn_rates,
            alert_state=alert_state,
            evaluated_at=evaluated_at or utcnow(),
        )
        with self.session() as s:
            s.add(row)
        return row.id

    def evaluations(
        self, slo_name: str | None = None, *, since: datetime | None = None, limit: int = 10_000
    ) -> list[SloEvaluation]:
        """Evaluations oldest first, for burn-down charts."""
        q = select(SloEvaluation).order_by(SloEvaluation.evaluated_at)
        if slo_name:
            q = q.where(SloEvaluation.slo_name == slo_name)
        if since:
            q = q.where(SloEvaluation.evaluated_at >= since)
        with self.session() as s:
            return list(s.scalars(q.limit(limit)))

    def latest_evaluations(self) -> list[SloEvaluation]:
        """The newest evaluation of every SLO."""
        latest = (
            select(SloEvaluation.slo_name, func.max(SloEvaluation.id).label("id"))
            .group_by(SloEvaluation.slo_name)
            .subquery()
        )
        q = select(SloEvaluation).join(latest, SloEvaluation.id == latest.c.id)
        with self.session() as s:
            return list(s.scalars(q.order_by(SloEvaluation.slo_name)))


__all__ = ["EvaluationsMixin"]
