"""configs/monitor.yaml: thresholds, windows and cool-down of the price monitor's rules."""

from __future__ import annotations

from pydantic import Field, model_validator

from core.alerts import StrictConfig


class PriceMoveConfig(StrictConfig):
    """A product-location price moving more than `threshold_pct` within `window_minutes`."""

    threshold_pct: float = Field(15.0, gt=0)
    critical_pct: float = Field(30.0, gt=0)
    window_minutes: float = Field(60.0, gt=0)


class CompetitorConfig(StrictConfig):
    """Our price against each competitor's, and each competitor's own moves."""

    above_gap_pct: float = Field(10.0, gt=0, description="our price this much above theirs")
    below_gap_pct: float = Field(20.0, gt=0, description="our price this much below theirs")
    critical_gap_pct: float = Field(30.0, gt=0)
    move_pct: float = Field(10.0, gt=0, description="a competitor's change since last seen")
    critical_move_pct: float = Field(25.0, gt=0)
    memory_hours: float = Field(168.0, gt=0, description="forget a competitor price this old")


class FlashSaleConfig(StrictConfig):
    """Too much stock while demand runs above its trailing average."""

    min_days_of_supply: float = Field(30.0, gt=0)
    recent_hours: int = Field(3, gt=0)
    trailing_days: int = Field(7, gt=0)
    min_history_hours: int = Field(24, gt=0, description="trailing hours needed before judging")
    demand_ratio: float = Field(1.0, gt=0, description="recent rate must exceed trailing x this")
    suggested_markdown_pct: float = Field(10.0, ge=0, lt=100)


class GeoConfig(StrictConfig):
    """A store's price against the median of nearby stores (same city or postal prefix)."""

    threshold_pct: float = Field(20.0, gt=0)
    critical_pct: float = Field(40.0, gt=0)
    min_peers: int = Field(3, ge=1)
    postal_prefix_len: int = Field(3, ge=1)
    freshness_hours: float = Field(24.0, gt=0, description="ignore peer prices older than this")


class MonitorConfig(StrictConfig):
    """The whole of configs/monitor.yaml."""

    cooldown_minutes: float = Field(60.0, ge=0, description="same dedup key stays quiet this long")
    allowed_lateness_s: float = Field(
        300.0, ge=0, le=3600, description="older rows are counted, not judged"
    )
    price_move: PriceMoveConfig = PriceMoveConfig()
    competitor: CompetitorConfig = CompetitorConfig()
    flash_sale: FlashSaleConfig = FlashSaleConfig()
    geo: GeoConfig = GeoConfig()

    @model_validator(mode="after")
    def _critical_above_threshold(self) -> MonitorConfig:
        pairs = {
            "price_move": (self.price_move.threshold_pct, self.price_move.critical_pct),
            "competitor": (
                max(self.competitor.above_gap_pct, self.competitor.below_gap_pct),
                self.competitor.critical_gap_pct,
            ),
            "competitor move": (self.competitor.move_pct, self.competitor.critical_move_pct),
            "geo": (self.geo.threshold_pct, self.geo.critical_pct),
        }
        for name, (threshold, critical) in pairs.items():
            if critical < threshold:
                raise ValueError(f"{name}: critical level {critical} is below its threshold")
        return self
