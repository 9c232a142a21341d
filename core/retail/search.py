"""Typo-tolerant lookup of products and locations by name, SKU, city or postal code.

Every searchable field value is indexed by its character trigrams (words padded with spaces,
so prefixes weigh in); a query's score against a field is the cosine of their trigram sets,
a document's score is its best field's (an exact prefix of a field scores 1). One sparse
matrix product scores every field at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyarrow as pa
from scipy import sparse

Kind = Literal["product", "location"]
FIELDS: dict[Kind, tuple[str, ...]] = {
    "product": ("product_id", "sku", "description", "category", "subcategory"),
    "location": ("store_id", "city", "region", "postal_code"),
}
_WORD = re.compile(r"[a-z0-9]+")


def _normal(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def trigrams(text: str) -> set[str]:
    """Character trigrams of each word padded with spaces ("bos" -> " bo", "bos", "os ")."""
    grams = set()
    for word in _normal(text).split():
        padded = f" {word} "
        grams.update(padded[i:i + 3] for i in range(len(padded) - 2))
    return grams


@dataclass(frozen=True)
class Hit:
    kind: Kind
    id: str
    score: float
    matched_field: str
    document: dict[str, Any]


class SearchIndex:
    """Products and locations of the catalog, searchable by trigram similarity."""

    def __init__(self, documents: list[tuple[Kind, str, dict[str, Any]]]) -> None:
        self.documents = documents
        vocabulary: dict[str, int] = {}
        rows, cols, owners, fields, texts = [], [], [], [], []
        for doc, (kind, _, values) in enumerate(documents):
            for field in FIELDS[kind]:
                text = _normal(str(values.get(field) or ""))
                if not text:
                    continue
                row = len(owners)
                owners.append(doc)
                fields.append(field)
                texts.append(text)
                for gram in trigrams(text):
                    rows.append(row)
                    cols.append(vocabulary.setdefault(gram, len(vocabulary)))
        self._vocabulary = vocabulary
        self._owner = np.asarray(owners, dtype=np.int64)
        self._field = fields
        self._text = np.asarray(texts, dtype=object)
        self._matrix = sparse.csr_matrix(
            (np.ones(len(rows)), (rows, cols)), shape=(len(owners), max(len(vocabulary), 1)))
        self._norm = np.sqrt(np.asarray(self._matrix.sum(axis=1)).ravel())

    @classmethod
    def from_positions(cls, positions: pa.Table) -> SearchIndex:
        """Each distinct product and store of a lake positions table."""
        products: dict[str, dict[str, Any]] = {}
        stores: dict[str, dict[str, Any]] = {}
        for row in positions.select(["product_id", "sku", "description", "category",
                                     "subcategory", "store_id", "city", "region",
                                     "postal_code"]).to_pylist():
            products.setdefault(row["product_id"], {f: row[f] for f in FIELDS["product"]})
            stores.setdefault(row["store_id"], {f: row[f] for f in FIELDS["location"]})
        return cls([("product", k, v) for k, v in sorted(products.items())]
                   + [("location", k, v) for k, v in sorted(stores.items())])

    def search(self, query: str, limit: int = 10, kind: Kind | None = None,
               min_score: float = 0.3) -> list[Hit]:
        """The best `limit` documents scoring at least `min_score`, best first."""
        grams = [self._vocabulary[g] for g in trigrams(query) if g in self._vocabulary]
        text = _normal(query)
        if not text or not len(self._owner):
            return []
        vector = np.zeros(self._matrix.shape[1])
        vector[grams] = 1.0
        with np.errstate(divide="ignore", invalid="ignore"):
            score = (self._matrix @ vector) / (self._norm * np.sqrt(len(trigrams(query))))
        score = np.nan_to_num(score)
        prefix = np.fromiter((t.startswith(text) for t in self._text), bool, len(self._text))
        score = np.where(prefix, 1.0, score)
        if kind is not None:
            score = np.where([self.documents[o][0] == kind for o in self._owner], score, 0.0)
        best = np.zeros(len(self.documents))
        np.maximum.at(best, self._owner, score)
        order = [d for d in np.argsort(-best, kind="stable")[:limit] if best[d] >= min_score]
        out = []
        for doc in order:
            rows = np.flatnonzero(self._owner == doc)
            field = self._field[rows[np.argmax(score[rows])]]
            kind_, id_, values = self.documents[doc]
            out.append(Hit(kind_, id_, round(float(best[doc]), 4), field, values))
        return out
