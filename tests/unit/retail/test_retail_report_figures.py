"""The retail report's figures from plain data (the portal draws the same)."""

from core.reports.retail import experiment_lift, regional_index


def test_regional_index_compares_each_region_with_the_category_mean() -> None:
    groups = [{"region": "west", "category": "grocery", "avg": 2.2, "count": 1},
              {"region": "south", "category": "grocery", "avg": 1.8, "count": 1},
              {"region": "south", "category": "apparel", "avg": 30.0, "count": 5}]
    grid = regional_index(groups)
    assert grid["regions"] == ["south", "west"] and grid["categories"] == ["apparel", "grocery"]
    assert grid["index_pct"] == [[0.0, -10.0], [None, 10.0]]


def test_lift_chart_colours_significant_lifts_and_draws_the_interval() -> None:
    interval = {"lift": 0.05, "ci_low": 0.01, "ci_high": 0.09, "p_value": 0.02}
    flat = {"lift": 0.0, "ci_low": -0.03, "ci_high": 0.04, "p_value": 0.9}
    figure = experiment_lift({"lift": {"revenue": interval, "units": flat, "margin": None}})
    trace = figure.data[0]
    assert list(trace.x) == ["revenue", "units"]
    assert [round(v, 6) for v in trace.y] == [5.0, 0.0]
    assert [round(v, 6) for v in trace.error_y.arrayminus] == [4.0, 3.0]
    assert trace.marker.color[0] != trace.marker.color[1]  # significant vs not
