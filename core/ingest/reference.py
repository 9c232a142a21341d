"""Reference tables from `configs/`: locations, currency rates, category hierarchy."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, Field

from core.config_files import load_config


class CityConfig(BaseModel):
    postal_prefixes: list[str] = Field(min_length=1)
    urban: bool
    aliases: list[str] = []


class RegionConfig(BaseModel):
    aliases: list[str] = []
    timezone: str
    cities: dict[str, CityConfig] = Field(min_length=1)


class LocationsConfig(BaseModel):
    regions: dict[str, RegionConfig] = Field(min_length=1)


class CurrencyConfig(BaseModel):
    base: str = "USD"
    rates: dict[str, float] = Field(min_length=1)


class CategoriesConfig(BaseModel):
    categories: dict[str, list[str]] = Field(min_length=1)


def on_distinct(values: pa.Array, compute: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """`compute(values)`, computed once per distinct value (columns with few of them)."""
    encoded = pc.dictionary_encode(values)
    return pc.take(compute(encoded.dictionary), encoded.indices)


def _lookup(values: pa.Array, table: dict[str, str]) -> pa.Array:
    """Map lower-cased, trimmed strings through `table`; unknown values become null."""
    keys = pa.array(list(table.keys()), pa.string())
    canon = pa.array(list(table.values()), pa.string())
    return on_distinct(values, lambda distinct: pc.take(canon, pc.index_in(
        pc.utf8_lower(pc.utf8_trim_whitespace(distinct)), value_set=keys)))


class Reference:
    """Vectorised standardisation of regions, cities, postal codes, currencies, categories."""

    def __init__(
        self, locations: LocationsConfig, currency: CurrencyConfig, categories: CategoriesConfig
    ) -> None:
        self.locations = locations
        self.categories = categories
        self.fx_rates = {code.upper(): rate for code, rate in currency.rates.items()}
        self.region_names = sorted(locations.regions)
        self._regions: dict[str, str] = {}
        self._cities: dict[str, str] = {}
        self._city_urban: dict[str, bool] = {}
        self._city_region: dict[str, str] = {}
        for region, cfg in locations.regions.items():
            for name in [region, *cfg.aliases]:
                self._regions[name.lower()] = region
            for city, city_cfg in cfg.cities.items():
                for name in [city, *city_cfg.aliases]:
                    self._cities[f"{region}|{name.lower()}"] = city
                self._city_urban[city] = city_cfg.urban
                self._city_region[city] = region

    @classmethod
    def load(cls, configs_dir: Path | None = None) -> Reference:
        return cls(
            load_config("locations", LocationsConfig, configs_dir),
            load_config("currency", CurrencyConfig, configs_dir),
            load_config("categories", CategoriesConfig, configs_dir),
        )

    def regions(self, values: pa.Array) -> pa.Array:
        return _lookup(values, self._regions)

    def cities(self, regions: pa.Array, values: pa.Array) -> pa.Array:
        names = on_distinct(values, lambda d: pc.utf8_lower(pc.utf8_trim_whitespace(d)))
        return _lookup(pc.binary_join_element_wise(regions, names, "|"), self._cities)

    def urban(self, cities: pa.Array) -> pa.Array:
        flags = {city.lower(): str(urban) for city, urban in self._city_urban.items()}
        return pc.equal(_lookup(cities, flags), pa.scalar("True"))

    def fx_to_usd(self, currencies: pa.Array) -> pa.Array:
        keys = pa.array(list(self.fx_rates.keys()), pa.string())
        rates = pa.array(list(self.fx_rates.values()), pa.float64())
        return on_distinct(currencies, lambda distinct: pc.take(rates, pc.index_in(
            pc.utf8_upper(pc.utf8_trim_whitespace(distinct)), value_set=keys)))

    def category_paths(self, values: pa.Array) -> tuple[pa.Array, pa.Array, pa.Array]:
        """Normalised path, top category (null when unknown) and subcategory."""
        encoded = pc.dictionary_encode(values)
        distinct = self._category_paths(encoded.dictionary)
        return tuple(pc.take(column, encoded.indices) for column in distinct)

    def _category_paths(self, values: pa.Array) -> tuple[pa.Array, pa.Array, pa.Array]:
        path = pc.utf8_lower(pc.utf8_trim_whitespace(values))
        path = pc.replace_substring_regex(path, r"\s*(>|/|\\|\|)\s*", "/")
        path = pc.replace_substring_regex(path, r"\s+", "-")
        parts = pc.split_pattern(path, "/")
        top = pc.list_element(parts, 0)
        known = pc.is_in(top, value_set=pa.array(list(self.categories.categories)))
        top = pc.if_else(known, top, pa.scalar(None, pa.string()))
        lengths = pc.list_value_length(parts)
        has_sub = pc.fill_null(pc.greater(lengths, 1), False)
        safe_parts = pc.if_else(has_sub, parts, pa.scalar(["", ""], pa.list_(pa.string())))
        sub = pc.if_else(has_sub, pc.list_element(safe_parts, 1), pa.scalar(None, pa.string()))
        return path, top, sub

    @staticmethod
    def postal_codes(values: pa.Array) -> pa.Array:
        return on_distinct(values, lambda distinct: pc.utf8_upper(
            pc.replace_substring_regex(distinct, r"\s+", "")))
