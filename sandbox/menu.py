"""The sandbox restaurant's menu: what the POS can ring up. Anything else is 'not found'."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

__all__ = ["MENU", "SERVICE_SKU", "MenuItem", "lookup"]

SERVICE_SKU = "SERVICE"


@dataclass(frozen=True)
class MenuItem:
    sku: str
    name: str
    price: Decimal


MENU: dict[str, MenuItem] = {
    item.sku: item
    for item in (
        MenuItem("BURGER", "Burger", Decimal("12.50")),
        MenuItem("FRIES", "French Fries", Decimal("4.00")),
        MenuItem("COLA", "Cola", Decimal("3.00")),
        MenuItem("SALAD", "Garden Salad", Decimal("9.75")),
        MenuItem("WATER", "Still Water", Decimal("2.50")),
        MenuItem("COFFEE", "Coffee", Decimal("2.80")),
        MenuItem("CHEESE", "Extra Cheese", Decimal("1.00")),
        MenuItem("UGG-BB-PUR-06", "Purple Burger Bun", Decimal("10.00")),
        MenuItem("ABC-123", "Side Sauce", Decimal("2.00")),
    )
}


def lookup(sku: str) -> MenuItem | None:
    """SKUs are matched exactly, as the POS does."""
    return MENU.get(sku)
