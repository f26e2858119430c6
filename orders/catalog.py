"""The product catalogue: what can be ordered and at what price.

Rows live in the `PRODUCTS_TABLE` table (see `common.resources`), all in one
partition (the catalogue is small and read as a whole), RowKey = SKU. Prices are
decimal strings. Stock is not here: it changes on every order and has its own
concurrency rules (`orders.inventory`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from azure.core.exceptions import ResourceExistsError
from azure.data.tables import UpdateMode

from common.resources import PRODUCTS_TABLE, find_row, table
from orders.money import format_money, parse_money

PARTITION = "catalog"


@dataclass(frozen=True)
class Product:
    """One orderable SKU."""

    sku: str
    name: str
    price: Decimal

    def to_entity(self) -> dict[str, str]:
        return {"PartitionKey": PARTITION, "RowKey": self.sku, "Name": self.name,
                "Price": format_money(self.price)}

    @classmethod
    def from_entity(cls, entity: dict) -> Product:
        return cls(sku=entity["RowKey"], name=entity["Name"], price=parse_money(entity["Price"]))


def put_product(product: Product, *, overwrite: bool = False) -> bool:
    """Store a product; without `overwrite` an existing row is kept. True when written."""
    products = table(PRODUCTS_TABLE)
    if overwrite:
        products.upsert_entity(product.to_entity(), mode=UpdateMode.REPLACE)
        return True
    try:
        products.create_entity(product.to_entity())
    except ResourceExistsError:
        return False
    return True


def get_product(sku: str) -> Product | None:
    """The product with this SKU, or None."""
    row = find_row(table(PRODUCTS_TABLE), PARTITION, sku)
    return Product.from_entity(row) if row is not None else None


def get_products(skus: Iterable[str]) -> dict[str, Product]:
    """The known products among `skus`, by SKU (unknown SKUs are simply absent)."""
    found = {}
    for sku in dict.fromkeys(skus):
        product = get_product(sku)
        if product is not None:
            found[sku] = product
    return found


def list_products() -> list[Product]:
    """The whole catalogue, ordered by SKU."""
    rows = table(PRODUCTS_TABLE).query_entities("PartitionKey eq @pk", parameters={"pk": PARTITION})
    return sorted((Product.from_entity(row) for row in rows), key=lambda product: product.sku)
