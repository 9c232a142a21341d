"""The ads report (`dynaprice report ads`): the portal's charts as one HTML file, read from
the lake: each location's coming week (price and attentive audience heat maps, P10-P90
bands) and attention by location and hour from the advertising metrics mart."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from core.ads.operations import attention_by_hour
from core.ads.pricing_week import location_rows, location_summaries, week_grid
from core.ads.ratecard import load_rate_card
from core.ads.slot_catalog import price_catalogue
from core.lake import ADVERTISING_METRICS, AUDIENCE_FORECASTS, Lake
from core.reports.document import ReportDocument
from core.settings import Settings

MAX_LOCATIONS = 12


def _day_labels(week: dict[str, Any]) -> list[str]:
    return [f"{weekday} {day[5:]}" for weekday, day in zip(week["weekdays"], week["days"],
                                                           strict=True)]


def week_heatmap(week: dict[str, Any], field: str, title: str, unit: str) -> go.Figure:
    """Day x hour heat map of the P50 of `field` ("price" or "attentive"), P10-P90 on hover."""
    quantiles = week[field]
    ranges = [[f"P10–P90 {low}–{high} {unit}" if low is not None else ""
               for low, high in zip(lows, highs, strict=True)]
              for lows, highs in zip(quantiles["p10"], quantiles["p90"], strict=True)]
    figure = go.Figure(go.Heatmap(
        z=quantiles["p50"], x=week["hours"], y=_day_labels(week), customdata=ranges,
        colorscale="YlOrRd" if field == "price" else "Blues", reversescale=True,
        hoverongaps=False, colorbar={"title": {"text": unit}},
        hovertemplate="%{y} %{x}:00<br>P50 %{z} " + unit + "<br>%{customdata}<extra></extra>"))
    figure.update_layout(title=title, xaxis={"title": "hour", "dtick": 2},
                         yaxis={"autorange": "reversed"}, height=360)
    return figure


def week_band(week: dict[str, Any], field: str, title: str, unit: str) -> go.Figure:
    """The week hour by hour: P50 with a filled P10-P90 band."""
    x, p10, p50, p90 = [], [], [], []
    for d, day in enumerate(week["days"]):
        for hour in week["hours"]:
            if week[field]["p50"][d][hour] is None:
                continue
            x.append(f"{day} {hour:02d}:00")
            for series, quantile in ((p10, "p10"), (p50, "p50"), (p90, "p90")):
                series.append(week[field][quantile][d][hour])
    figure = go.Figure([
        go.Scatter(x=x, y=p90, mode="lines", line={"width": 0}, showlegend=False,
                   hoverinfo="skip"),
        go.Scatter(x=x, y=p10, mode="lines", line={"width": 0}, fill="tonexty",
                   fillcolor="rgba(31,111,235,0.18)", name="P10–P90"),
        go.Scatter(x=x, y=p50, mode="lines", line={"color": "#1f6feb", "width": 1.5},
                   name="P50"),
    ])
    figure.update_layout(title=title, yaxis={"title": unit}, height=300)
    return figure


def attention_heatmap(attention: dict[str, Any]) -> go.Figure:
    """Attention rate per location x hour of day."""
    figure = go.Figure(go.Heatmap(
        z=attention["attention_rate"], x=attention["hours"], y=attention["locations"],
        customdata=attention["crowd"], colorscale="Viridis", hoverongaps=False,
        colorbar={"title": {"text": "attention"}, "tickformat": ".0%"},
        hovertemplate="%{y} %{x}:00<br>attention %{z:.1%}<br>mean crowd %{customdata}/h"
                      "<extra></extra>"))
    figure.update_layout(title="Attention rate by location and hour of day",
                         xaxis={"title": "hour of day", "dtick": 2},
                         height=120 + 40 * len(attention["locations"]))
    return figure


def build_report(settings: Settings, target: str = "broad",
                 max_locations: int = MAX_LOCATIONS) -> str:
    """The whole ads report as one self-contained HTML page."""
    lake = Lake.open(settings.lake_uri, settings.aws_endpoint_url)
    card = load_rate_card(settings.configs_dir / "ratecard.yaml")
    document = ReportDocument("dynaprice — out-of-home ad slots")
    forecast = lake.read(AUDIENCE_FORECASTS)
    if forecast.num_rows == 0:
        document.paragraph("No audience forecast in the lake yet: run "
                           "`python -m tuning.audience_forecast` (or `make up`).")
    else:
        slots = price_catalogue(forecast, card)[target]
        summaries = sorted(location_summaries(slots),
                           key=lambda s: -s["weekly_attentive_p50"])
        document.paragraph(f"Forecast {forecast['model_version'][0].as_py()}, target "
                           f"{target}, prices in {card.currency}.", muted=True)
        document.heading("Locations, by expected attentive audience this week")
        document.table([
            ("location", lambda s: s["location_id"]), ("type", lambda s: s["location_type"]),
            ("attentive viewers / week (P50)", lambda s: s["weekly_attentive_p50"]),
            ("attention rate", lambda s: s["attention_rate"]),
            ("min price", lambda s: s["price_p50"]["min"]),
            ("mean price", lambda s: s["price_p50"]["mean"]),
            ("max price", lambda s: s["price_p50"]["max"]),
        ], summaries)
        for summary in summaries[:max_locations]:
            location = summary["location_id"]
            week = week_grid(location_rows(slots, location))
            document.heading(f"{location} ({summary['location_type']}): "
                             f"{week['days'][0]} to {week['days'][-1]}")
            document.figure(week_heatmap(week, "price", "Slot price (P50)", card.currency))
            document.figure(week_heatmap(week, "attentive", "Expected attentive audience (P50)",
                                         "viewers"))
            document.figure(week_band(week, "price", "Slot price with P10–P90",
                                      card.currency))
            document.figure(week_band(week, "attentive", "Attentive audience with P10–P90",
                                      "viewers"))
        if len(summaries) > max_locations:
            document.paragraph(f"{len(summaries) - max_locations} more locations are in the "
                               "table above and in the portal.", muted=True)
    metrics = lake.read(ADVERTISING_METRICS, columns=["location", "hour", "crowd", "attentive"])
    document.heading("Attention by location and hour")
    if metrics.num_rows:
        document.figure(attention_heatmap(attention_by_hour(metrics)))
    else:
        document.paragraph("No audience history yet: run `python -m data_jobs.audience_rollup`.")
    return document.html()
