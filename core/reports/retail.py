"""The retail report (`dynaprice report retail`): the pricing-manager portal's charts as one
HTML file. Read from the lake and the model registry: the regional price map, the audit log
and, for the product-locations waiting for review (else the first of the catalogue), the
demand curve with the chosen price, revenue vs price and the price history against the
lowest competitor. With REDIS_URL set: the review queue and the experiments' lifts too.
The figures match serve_apps/portal_static/retail/retail_charts.js."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import plotly.graph_objects as go
import pyarrow as pa
import pyarrow.compute as pc
import redis

from core.lake import Lake
from core.reports.document import ReportDocument
from core.retail.audit import AuditLog, AuditQuery
from core.retail.curves import curve_document, curve_grid
from core.retail.demand_model import DemandModel
from core.retail.experiments import ExperimentStore, analyse, experiment_price_points
from core.retail.history import price_history
from core.retail.pricing import model_rows, recommend
from core.retail.pricing_catalog import PricingCatalog
from core.retail.production_catalog import load_catalog
from core.retail.queries import AggregateQuery, LakeQueries
from core.retail.registry import ModelRegistry
from core.retail.review import QueueFilter, ReviewConfig, ReviewQueue
from core.retail.rules import PricingRulesConfig
from core.settings import Settings

MAX_ITEMS = 6
MAX_EXPERIMENTS = 5
HISTORY_DAYS = 90
BLUE, GREEN, ORANGE, GREY = "#1f6feb", "#1a7f37", "#b35900", "#64707d"


def _price_marks(figure: go.Figure, curve: dict[str, Any]) -> go.Figure:
    """The allowed range as a band; the recommended, current and competitor prices as lines."""
    figure.add_vrect(x0=curve["low"], x1=curve["high"], fillcolor="rgba(26,127,55,0.07)",
                     line_width=0, layer="below")
    marks = [(curve["recommended_price"], GREEN, "recommended", "solid"),
             (curve["current_price"], GREY, "current", "dot")]
    if curve["competitor_price"] is not None:
        marks.append((curve["competitor_price"], ORANGE, "competitor", "dash"))
    for i, (price, color, label, dash) in enumerate(marks):
        figure.add_vline(x=price, line={"color": color, "width": 1.5, "dash": dash})
        figure.add_annotation(x=price, yref="paper", y=1 - 0.07 * i, showarrow=False,
                              xanchor="left", text=f"{label} {price:.2f}",
                              font={"color": color, "size": 11})
    return figure


def demand_curve(curve: dict[str, Any]) -> go.Figure:
    """Daily units (P50, P10-P90 band) over price: the elasticity curve."""
    points = curve["points"]
    x = [p["price"] for p in points]
    figure = go.Figure([
        go.Scatter(x=x, y=[p["units_p90"] for p in points], mode="lines", line={"width": 0},
                   hoverinfo="skip", showlegend=False),
        go.Scatter(x=x, y=[p["units_p10"] for p in points], mode="lines", line={"width": 0},
                   fill="tonexty", fillcolor="rgba(31,111,235,0.18)", name="P10–P90"),
        go.Scatter(x=x, y=[p["units_p50"] for p in points], mode="lines", name="units (P50)",
                   line={"color": BLUE, "width": 2},
                   customdata=[p["elasticity"] for p in points],
                   hovertemplate="%{x:.2f}: %{y:.2f} units/day<br>elasticity %{customdata}"
                                 "<extra></extra>"),
    ])
    figure.update_layout(title="Demand curve (daily units)", height=340,
                         xaxis_title="price", yaxis_title="units per day",
                         legend={"orientation": "h", "y": -0.25})
    return _price_marks(figure, curve)


def revenue_curve(curve: dict[str, Any]) -> go.Figure:
    """Expected daily revenue and margin over price."""
    points = curve["points"]
    x = [p["price"] for p in points]
    figure = go.Figure([
        go.Scatter(x=x, y=[p["revenue"] for p in points], mode="lines", name="revenue",
                   line={"color": BLUE, "width": 2}),
        go.Scatter(x=x, y=[p["margin"] for p in points], mode="lines", name="margin",
                   line={"color": GREEN, "width": 1.5}),
    ])
    figure.update_layout(title="Revenue and margin vs price (per day, P50)", height=340,
                         xaxis_title="price", yaxis_title="per day",
                         legend={"orientation": "h", "y": -0.25})
    return _price_marks(figure, curve)


def price_history_figure(days: list[dict[str, Any]]) -> go.Figure:
    """Daily price against the lowest competitor, with 7-day rolling means."""
    x = [d["day"] for d in days]
    figure = go.Figure([
        go.Scatter(x=x, y=[d["price"] for d in days], mode="markers", name="price (daily)",
                   marker={"color": BLUE, "size": 4, "opacity": 0.5}),
        go.Scatter(x=x, y=[d["competitor_min_price"] for d in days], mode="markers",
                   name="lowest competitor (daily)",
                   marker={"color": ORANGE, "size": 4, "opacity": 0.5}),
        go.Scatter(x=x, y=[d["price_7d"] for d in days], mode="lines",
                   name="price, 7-day mean", line={"color": BLUE, "width": 2}),
        go.Scatter(x=x, y=[d["competitor_7d"] for d in days], mode="lines",
                   name="competitor, 7-day mean",
                   line={"color": ORANGE, "width": 2, "dash": "dash"}),
    ])
    figure.update_layout(title="Price history against the lowest competitor", height=340,
                         yaxis_title="price", legend={"orientation": "h", "y": -0.2})
    return figure


def regional_index(groups: list[dict[str, Any]]) -> dict[str, Any]:
    """Region x category: each cell's mean price in % against the category's (count-weighted)
    mean over every region, and the mean price itself."""
    regions = sorted({g["region"] for g in groups})
    categories = sorted({g["category"] for g in groups})
    cells = {(g["region"], g["category"]): g for g in groups}
    mean = {}
    for category in categories:
        found = [g for g in groups if g["category"] == category]
        mean[category] = sum(g["avg"] * g["count"] for g in found) / sum(g["count"]
                                                                          for g in found)
    z = [[round(100 * (cells[r, c]["avg"] / mean[c] - 1), 1) if (r, c) in cells else None
          for c in categories] for r in regions]
    text = [[f"{cells[r, c]['avg']:.2f} ({cells[r, c]['count']} records)"
             if (r, c) in cells else "" for c in categories] for r in regions]
    return {"regions": regions, "categories": categories, "index_pct": z, "text": text}


def regional_prices(groups: list[dict[str, Any]]) -> go.Figure:
    """The regional price map as a region x category heat map."""
    grid = regional_index(groups)
    figure = go.Figure(go.Heatmap(
        x=grid["categories"], y=grid["regions"], z=grid["index_pct"], customdata=grid["text"],
        zmid=0, colorscale="RdBu_r", hoverongaps=False,
        colorbar={"title": {"text": "% vs category mean"}},
        hovertemplate="%{y} · %{x}<br>mean price %{customdata}<br>%{z:+.1f} % vs all regions"
                      "<extra></extra>"))
    figure.update_layout(title="Regional price map: mean price vs the category's mean",
                         height=160 + 44 * len(grid["regions"]))
    return figure


def experiment_lift(report: dict[str, Any]) -> go.Figure:
    """An experiment's lift per metric with its 95 % confidence interval."""
    metrics = [m for m, lift in report["lift"].items() if lift]
    lift = [report["lift"][m] for m in metrics]
    colors = [GREEN if x["ci_low"] > 0 else "#c62828" if x["ci_high"] < 0 else GREY
              for x in lift]
    figure = go.Figure(go.Scatter(
        x=metrics, y=[100 * x["lift"] for x in lift], mode="markers",
        marker={"size": 11, "color": colors},
        error_y={"type": "data", "symmetric": False, "color": GREY,
                 "array": [100 * (x["ci_high"] - x["lift"]) for x in lift],
                 "arrayminus": [100 * (x["lift"] - x["ci_low"]) for x in lift]},
        customdata=[x["p_value"] for x in lift],
        hovertemplate="%{x}: %{y:+.2f} %<br>p = %{customdata:.3f}<extra></extra>"))
    figure.update_layout(title="Lift of treatment over control, 95 % CI", height=320,
                         yaxis={"title": "lift (%)", "zeroline": True,
                                "zerolinecolor": "#1d2733"})
    return figure


def item_curve(catalog: PricingCatalog, model: DemandModel, pair: tuple[str, str],
               day: date) -> dict[str, Any]:
    """The curve data of one known product-location priced for `day`, as the portal gets it
    from `/pricing/curve`."""
    when = np.datetime64(day, "D")
    plan, _ = catalog.plan([pair], when, "revenue", {}, have_model=True)
    chosen = recommend(plan, model.predict_units, catalog.versions)[0]
    rows, _ = catalog.rows_of([pair])
    context = catalog.contexts.take(pa.array(rows))
    row = context.to_pylist()[0]
    grid = curve_grid(row["reference_price"], chosen["rules"]["clearance_low"],
                      chosen["rules"]["high"], row["current_price"])
    quantiles = model.predict_units(model_rows(context, np.array([when])), grid[None, :])
    return curve_document(row, chosen, catalog.versions.model or "", grid, quantiles)


def _latest_day(positions: pa.Table) -> date:
    if positions.num_rows == 0:
        return datetime.now(UTC).date()
    return pc.max(positions["ts"]).as_py().date()


def _money(value: float | None) -> str | None:
    return None if value is None else f"{value:,.2f}"


def _review_section(document: ReportDocument, client: redis.Redis, settings: Settings
                    ) -> list[tuple[str, str, date]]:
    """Queue counts and the pending items; (product, location, day) of the first ones."""
    queue = ReviewQueue(client, ReviewConfig.load(settings.configs_dir).queue_prefix)
    counts = queue.counts()
    pending = queue.page(QueueFilter(status="pending", limit=50)).items
    document.heading("Review queue")
    document.paragraph(", ".join(f"{n} {status}" for status, n in counts.items()) + ".")
    if not pending:
        return []
    document.table([
        ("product", lambda i: i.product_id), ("store", lambda i: i.location_id),
        ("region", lambda i: i.region), ("source", lambda i: i.source),
        ("current", lambda i: i.current_price), ("recommended", lambda i: i.recommended_price),
        ("change %", lambda i: round(100 * (i.recommended_price / i.current_price - 1), 1)),
        ("expected revenue/day", lambda i: i.expected and round(i.expected.revenue, 2)),
        ("for", lambda i: i.target_date.isoformat()),
    ], pending)
    return [(i.product_id, i.location_id, i.target_date) for i in pending]


def _experiments_section(document: ReportDocument, client: redis.Redis, lake: Lake) -> None:
    experiments = ExperimentStore(client).all()[:MAX_EXPERIMENTS]
    document.heading("Experiments")
    if not experiments:
        document.paragraph("No experiments yet (create one in the portal or with "
                           "POST /api/retail/experiments).", muted=True)
    today = datetime.now(UTC).date()
    for experiment in experiments:
        report = analyse(experiment, experiment_price_points(lake, experiment), today)
        revenue = report.lift["revenue"]
        summary = f"{experiment.name} ({experiment.unit}, seed {experiment.seed}): " \
                  f"{report.period[0]} to {report.period[1]}, {report.days_observed} days."
        if revenue is not None:
            summary += (f" Revenue lift {revenue.lift:+.2%} (95 % CI {revenue.ci_low:+.2%} to "
                        f"{revenue.ci_high:+.2%}, p = {revenue.p_value:.3f}).")
        if report.power.days_needed is not None:
            summary += f" Days needed for significance: {report.power.days_needed}."
        document.paragraph(summary)
        document.table([("arm", lambda a: a[0]), ("units", lambda a: a[1].units_in_arm),
                        ("revenue", lambda a: a[1].revenue), ("units sold", lambda a: a[1].units),
                        ("margin", lambda a: a[1].margin)], list(report.arms.items()))
        if revenue is not None:
            document.figure(experiment_lift(report.model_dump(mode="json")))


def _items_section(document: ReportDocument, lake: Lake, catalog: PricingCatalog,
                   wanted: list[tuple[str, str, date]], max_items: int) -> None:
    document.heading("Product-locations")
    if catalog.versions.model is None:
        document.paragraph("No production demand model yet: train one "
                           "(`dynaprice submit demand`) for the demand and revenue curves.")
        return
    model = DemandModel.load(ModelRegistry(lake, "demand"), catalog.versions.model)
    known = [w for w in wanted if not catalog.rows_of([w[:2]])[1]]
    if not known:  # nothing waiting for review: the first of the catalogue
        day = _latest_day(catalog.positions) + timedelta(days=1)
        known = [(p, loc, day) for p, loc in zip(
            catalog.contexts["product_id"].to_pylist()[:max_items],
            catalog.contexts["location_id"].to_pylist()[:max_items], strict=True)]
    for product_id, location_id, day in list(dict.fromkeys(known))[:max_items]:
        curve = item_curve(catalog, model, (product_id, location_id), day)
        document.heading(f"{product_id} at {location_id} ({curve['category']}), priced for {day}")
        document.paragraph(
            f"Recommended {_money(curve['recommended_price'])} ({curve['method']}), current "
            f"{_money(curve['current_price'])}, allowed {_money(curve['low'])} – "
            f"{_money(curve['high'])}, cost {_money(curve['cost'])}.", muted=True)
        document.figure(demand_curve(curve))
        document.figure(revenue_curve(curve))
        days = price_history(lake, product_id, location_id, HISTORY_DAYS, day)
        if days:
            document.figure(price_history_figure(days))


def build_report(settings: Settings, max_items: int = MAX_ITEMS) -> str:
    """The whole retail report as one self-contained HTML page."""
    lake = Lake.open(settings.lake_uri, settings.aws_endpoint_url)
    catalog = load_catalog(lake, PricingRulesConfig.load(settings.configs_dir))
    document = ReportDocument("dynaprice — retail pricing")
    document.paragraph(f"Lake {lake.uri}; model {catalog.versions.model or 'none'}, features "
                       f"{catalog.versions.features or 'none'}; "
                       f"{catalog.contexts.num_rows} product-locations.", muted=True)
    groups, _ = LakeQueries(lake).aggregate(AggregateQuery())
    document.heading("Regional prices")
    if groups:
        document.figure(regional_prices(groups))
    else:
        document.paragraph("No price points in the lake yet: ingest some or run "
                           "`python -m data_jobs.seed_history`.")
    wanted: list[tuple[str, str, date]] = []
    if settings.redis_url:
        client = redis.Redis.from_url(settings.redis_url)
        try:
            wanted = _review_section(document, client, settings)
            _experiments_section(document, client, lake)
        except redis.ConnectionError as exc:
            document.paragraph(f"Redis at {settings.redis_url} did not answer ({exc}): no "
                               "review queue or experiments in this report.", muted=True)
    else:
        document.paragraph("No REDIS_URL: no review queue or experiments in this report.",
                           muted=True)
    audit = AuditLog(lake).read(AuditQuery(limit=50))
    document.heading("Audit log (newest decisions)")
    if audit:
        document.table([
            ("when", lambda e: e.at.strftime("%Y-%m-%d %H:%M")), ("who", lambda e: e.who),
            ("action", lambda e: e.action), ("product", lambda e: e.product_id),
            ("store", lambda e: e.location_id), ("before", lambda e: e.price_before),
            ("after", lambda e: e.price_after), ("reason", lambda e: e.reason),
        ], audit)
    else:
        document.paragraph("No decisions yet.", muted=True)
    _items_section(document, lake, catalog, wanted, max_items)
    return document.html()
