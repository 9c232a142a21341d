"""The pricing catalog as the production demand model sees it, read straight from the lake:
the latest positions joined with the features of the model's feature version (the nightly
catalogue job and the retail report use it; the Serve app keeps its own, refreshed, copy)."""

from __future__ import annotations

from core.lake import Lake
from core.retail.feature_store import FeatureStore
from core.retail.pricing import Versions
from core.retail.pricing_catalog import PricingCatalog
from core.retail.queries import LakeQueries
from core.retail.registry import ModelRegistry
from core.retail.rules import PricingRulesConfig


def load_catalog(lake: Lake, rules: PricingRulesConfig) -> PricingCatalog:
    """Positions from the lake and the production model's features (none without a model)."""
    registry = ModelRegistry(lake, "demand")
    version = registry.production()
    card = (registry.card(version) or {}) if version else {}
    feature_version = card.get("feature_version")
    features = FeatureStore(lake).read(feature_version) if feature_version else None
    return PricingCatalog.build(LakeQueries(lake).positions(), features, rules,
                                Versions(version, feature_version))
