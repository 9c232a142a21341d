"""Gradient-boosted demand models (XGBoost or LightGBM) on the training design, and the pure
predict API the pricing service uses:

    model = DemandModel.load(ModelRegistry(lake, "demand"))          # the production version
    p10, p50, p90 = model.predict_units(rows, prices)                 # prices [n] or [n, k]

`rows` are daily product-location rows (product_id, store_id, region, category, urban, day,
competitor_min_price, discount_pct); P10/P90 come from a negative-binomial law around P50
whose dispersion was fitted on the validation split. A model keeps the product-location
features, codes and Prophet components it was trained with; one saved with another feature
list does not load (`IncompatibleModel`).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import lightgbm as lgb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import xgboost as xgb
from scipy import stats

from core.retail.registry import ModelRegistry
from core.retail.training import (
    FEATURES,
    MONOTONE,
    Design,
    Encodings,
    ProductLocationLookup,
    SeasonalLookup,
    row_inputs,
)

KINDS = ("xgboost", "lightgbm")
Report = Callable[[int, np.ndarray], bool]  # (rounds so far, validation mean) -> stop?


class IncompatibleModel(ValueError):
    """A stored model whose features are not the ones this code computes."""


def _monotone() -> list[int]:
    return [MONOTONE.get(name, 0) for name in FEATURES]


def booster_params(kind: str, config: dict[str, Any]) -> dict[str, Any]:
    """Library parameters for a searched config (the same knobs for both libraries)."""
    if kind == "xgboost":
        return {"objective": "count:poisson", "eta": config["learning_rate"],
                "max_depth": int(config["max_depth"]),
                "min_child_weight": config["min_child_weight"],
                "subsample": config["subsample"], "colsample_bytree": config["colsample"],
                "lambda": config["reg_lambda"], "tree_method": "hist", "nthread": 1,
                "monotone_constraints": "(" + ",".join(map(str, _monotone())) + ")",
                "verbosity": 0}
    if kind == "lightgbm":
        return {"objective": "poisson", "learning_rate": config["learning_rate"],
                "max_depth": int(config["max_depth"]),
                "num_leaves": min(2 ** int(config["max_depth"]), 127),
                "min_sum_hessian_in_leaf": config["min_child_weight"],
                "bagging_fraction": config["subsample"], "bagging_freq": 1,
                "feature_fraction": config["colsample"], "lambda_l2": config["reg_lambda"],
                "monotone_constraints": _monotone(), "num_threads": 1, "verbosity": -1,
                "deterministic": True, "seed": 0}
    raise ValueError(f"unknown model kind {kind!r}; expected one of {KINDS}")


class _XgbReport(xgb.callback.TrainingCallback):
    def __init__(self, valid: xgb.DMatrix, every: int, report: Report) -> None:
        self.valid, self.every, self.report = valid, every, report

    def after_iteration(self, model: xgb.Booster, epoch: int, evals_log: Any) -> bool:
        if (epoch + 1) % self.every:
            return False
        return self.report(epoch + 1, model.predict(self.valid))


def _dmatrix(d: Design) -> xgb.DMatrix:
    return xgb.DMatrix(d.x, label=d.units, base_margin=d.offset, feature_names=list(FEATURES))


def fit_booster(kind: str, config: dict[str, Any], train: Design, valid: Design | None,
                rounds: int, every: int = 25, report: Report | None = None) -> Any:
    """Train `rounds` boosting rounds; every `every` rounds `report` sees validation means."""
    params = booster_params(kind, config)
    if kind == "xgboost":
        callbacks = [_XgbReport(_dmatrix(valid), every, report)] if report and valid else []
        return xgb.train(params, _dmatrix(train), num_boost_round=rounds, callbacks=callbacks)
    data = lgb.Dataset(train.x, label=train.units, init_score=train.offset,
                       feature_name=list(FEATURES), free_raw_data=False)
    lgb_callbacks = []
    if report and valid:
        def callback(env: Any) -> None:
            done = env.iteration + 1
            if done % every == 0 and report(done, np.exp(
                    env.model.predict(valid.x, raw_score=True) + valid.offset)):
                raise lgb.callback.EarlyStopException(env.iteration, [])
        lgb_callbacks.append(callback)
    return lgb.train(params, data, num_boost_round=rounds, callbacks=lgb_callbacks)


def booster_mean(kind: str, booster: Any, x: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """Expected units of model inputs `x` with log offsets, on one thread (a request's
    few hundred rows cost more in thread hand-offs than they gain)."""
    if kind == "xgboost":
        return booster.inplace_predict(x, base_margin=offset)
    raw = booster.predict(np.asarray(x, dtype=np.float64), raw_score=True, num_threads=1)
    return np.exp(raw + offset)


def predict_mean(kind: str, booster: Any, d: Design) -> np.ndarray:
    return booster_mean(kind, booster, d.x, d.offset)


def fit_dispersion(actual: np.ndarray, mean: np.ndarray) -> float:
    """Negative-binomial size by moments: E[(y - mu)^2 - mu] = mu^2 / size."""
    excess = float(np.sum((actual - mean) ** 2 - mean))
    return float(np.sum(mean**2) / excess) if excess > 0 else 1e6


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


@dataclass
class DemandModel:
    """A fitted booster with the product-location features, codes and seasonality (Prophet
    components per category and day; None: none) it was trained with."""

    kind: str
    booster: Any
    pl_features: pa.Table
    encodings: Encodings
    dispersion: float
    seasonality: pa.Table | None = None

    @cached_property
    def lookup(self) -> ProductLocationLookup:
        return ProductLocationLookup(self.pl_features)

    @cached_property
    def seasonal(self) -> SeasonalLookup:
        return SeasonalLookup(self.seasonality, self.encodings.categories)

    def mean_units(self, rows: pa.Table, prices: np.ndarray | None = None) -> np.ndarray:
        inputs = row_inputs(rows, self.lookup, self.encodings, self.seasonal,
                            own_discount=prices is None)
        x, offset = inputs.at(rows["price"].to_numpy(zero_copy_only=False)
                              if prices is None else prices)
        return booster_mean(self.kind, self.booster, x, offset)

    def predict_units(self, rows: pa.Table, prices: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """P10, P50 (the mean) and P90 of daily units of each row at each candidate price;
        `prices` is [n] or [n, k] (k candidates per row) and the outputs take its shape."""
        prices = np.asarray(prices, dtype=float)
        inputs = row_inputs(rows, self.lookup, self.encodings, self.seasonal,
                            own_discount=False)
        x, offset = inputs.at(prices.reshape(len(rows), -1))
        mean = booster_mean(self.kind, self.booster, x, offset)
        size = self.dispersion
        p = size / (size + np.maximum(mean, 1e-9))
        p10 = stats.nbinom.ppf(0.1, size, p)
        p90 = stats.nbinom.ppf(0.9, size, p)
        return tuple(a.reshape(prices.shape) for a in (p10, mean, p90))

    def files(self) -> dict[str, bytes]:
        """What the registry stores for this model."""
        model = bytes(self.booster.save_raw("json")) if self.kind == "xgboost" \
            else self.booster.model_to_string().encode()
        meta = {"kind": self.kind, "dispersion": self.dispersion, "features": list(FEATURES),
                "categories": list(self.encodings.categories),
                "regions": list(self.encodings.regions)}
        files = {"model.bin": model, "product_locations.parquet": _parquet(self.pl_features),
                 "model.json": json.dumps(meta).encode()}
        if self.seasonality is not None:
            files["seasonality.parquet"] = _parquet(self.seasonality)
        return files

    @classmethod
    def from_files(cls, files: dict[str, bytes]) -> DemandModel:
        meta = json.loads(files["model.json"])
        if meta["features"] != list(FEATURES):
            raise IncompatibleModel(f"the model was trained on features {meta['features']}, "
                                    f"this code computes {list(FEATURES)}")
        if meta["kind"] == "xgboost":
            booster = xgb.Booster()
            booster.load_model(bytearray(files["model.bin"]))
            booster.set_param({"nthread": 1})
        else:
            booster = lgb.Booster(model_str=files["model.bin"].decode())
        seasonality = files.get("seasonality.parquet")
        return cls(meta["kind"], booster,
                   pq.read_table(io.BytesIO(files["product_locations.parquet"])),
                   Encodings(tuple(meta["categories"]), tuple(meta["regions"])),
                   float(meta["dispersion"]),
                   None if seasonality is None else pq.read_table(io.BytesIO(seasonality)))

    @classmethod
    def load(cls, registry: ModelRegistry, version: str | None = None) -> DemandModel:
        """A registered version (default: production)."""
        version = version or registry.production()
        if version is None:
            raise LookupError(f"model {registry.name!r} has no production version")
        return cls.from_files(registry.files(version))
