"""The simulated market's fixed cast: stores in the configured cities, products in the categories.

Stores come from configs/locations.yaml (several per city, postal codes from the city's
prefixes, the city's urban flag and the region's time zone); products from
configs/categories.yaml (round-robin over categories, each with a SKU, description, list
price and unit cost). Within a category, list prices are spread evenly over 0.6-1.4 times
the category's price level, so no regular price sits far from the category's mean
(ingestion rejects prices beyond 3 standard deviations of it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.ingest.reference import CategoriesConfig, LocationsConfig

_PRICE_LEVEL = {"grocery": 4.0, "household": 9.0, "health": 12.0, "apparel": 35.0,
                "electronics": 60.0}  # USD; other categories draw a level in [3, 60]


@dataclass(frozen=True)
class Stores:
    """One entry per store; string columns are object arrays (cheap to index in bulk)."""

    store_id: np.ndarray
    region: np.ndarray
    region_index: np.ndarray
    city: np.ndarray
    postal_code: np.ndarray
    timezone: np.ndarray
    urban: np.ndarray
    traffic: np.ndarray  # relative footfall, multiplies base demand

    def __len__(self) -> int:
        return len(self.store_id)


@dataclass(frozen=True)
class Products:
    """One entry per product; `category_index` points into `Products.categories`."""

    categories: tuple[str, ...]
    product_id: np.ndarray
    sku: np.ndarray
    description: np.ndarray
    category: np.ndarray
    subcategory: np.ndarray
    category_index: np.ndarray
    list_price: np.ndarray  # USD
    unit_cost: np.ndarray  # USD

    def __len__(self) -> int:
        return len(self.product_id)


def build_stores(locations: LocationsConfig, per_city: int, rng: np.random.Generator) -> Stores:
    """`per_city` stores in every configured city, regions in sorted order."""
    rows: list[tuple[str, str, int, str, str, str, bool]] = []
    for region_index, region in enumerate(sorted(locations.regions)):
        region_cfg = locations.regions[region]
        for city, city_cfg in region_cfg.cities.items():
            for k in range(per_city):
                prefix = city_cfg.postal_prefixes[k % len(city_cfg.postal_prefixes)]
                digits = 5 - len(prefix)
                postal = f"{prefix}{int(rng.integers(0, 10**digits)):0{digits}d}"
                store_id = f"st-{city[:3].lower()}-{len(rows) + 1:03d}"
                rows.append((store_id, region, region_index, city, postal,
                             region_cfg.timezone, city_cfg.urban))
    columns = list(zip(*rows, strict=True))
    urban = np.array(columns[6], dtype=bool)
    traffic = rng.lognormal(0.0, 0.25, len(rows)) * np.where(urban, 1.4, 1.0)
    return Stores(
        store_id=np.array(columns[0], dtype=object),
        region=np.array(columns[1], dtype=object),
        region_index=np.array(columns[2], dtype=np.int64),
        city=np.array(columns[3], dtype=object),
        postal_code=np.array(columns[4], dtype=object),
        timezone=np.array(columns[5], dtype=object),
        urban=urban,
        traffic=traffic,
    )


def build_products(categories: CategoriesConfig, count: int, rng: np.random.Generator) -> Products:
    """`count` products spread round-robin over the categories, subcategories at random."""
    names = tuple(categories.categories)
    category_index = np.arange(count) % len(names)
    drawn = np.exp(rng.uniform(np.log(3.0), np.log(60.0), len(names)))
    price_level = np.array([_PRICE_LEVEL.get(name, level)
                            for name, level in zip(names, drawn, strict=True)])
    list_price = np.empty(count)
    for c in range(len(names)):
        members = np.flatnonzero(category_index == c)
        spread = 0.6 + 0.8 * (rng.permutation(len(members)) + 0.5) / max(len(members), 1)
        list_price[members] = price_level[c] * spread
    list_price = np.round(list_price, 2)
    unit_cost = np.round(list_price * rng.uniform(0.45, 0.65, count), 2)
    subcategory = [str(rng.choice(categories.categories[names[c]])) for c in category_index]
    category = [names[c] for c in category_index]
    product_id = [f"P{i + 1:05d}" for i in range(count)]
    sku = [f"{cat[:3].upper()}-{sub[:3].upper()}-{i + 1:05d}"
           for i, (cat, sub) in enumerate(zip(category, subcategory, strict=True))]
    description = [f"{sub.replace('-', ' ').title()} item {i + 1}"
                   for i, sub in enumerate(subcategory)]
    return Products(
        categories=names,
        product_id=np.array(product_id, dtype=object),
        sku=np.array(sku, dtype=object),
        description=np.array(description, dtype=object),
        category=np.array(category, dtype=object),
        subcategory=np.array(subcategory, dtype=object),
        category_index=category_index,
        list_price=list_price,
        unit_cost=unit_cost,
    )
