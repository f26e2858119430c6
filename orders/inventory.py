"""Stock per SKU, reserved per order without ever overselling.

Layout of the `INVENTORY_TABLE` table (see `common.resources`): each SKU is a
partition holding
  - RowKey `stock`: `Available` = units that may still be reserved;
  - RowKey `reservation:{orderId}`: `Quantity` held for that order, `State`
    `Reserved` or (after the order is created) `Committed`.

Because both rows share a partition, one entity-group transaction decrements the
stock (only if its ETag is unchanged) and inserts the reservation row. Two
concurrent orders for the last unit both read the same ETag; one transaction wins
and the other gets 412, re-reads and finds nothing left, so stock never goes
negative. The reservation row makes reserving idempotent (activities run at least
once): a second attempt for the same order finds the row and changes nothing.
Release is the mirror image: delete the row and give its quantity back, in one
transaction; a missing row means there is nothing (left) to release.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient, TableTransactionError, UpdateMode

from common.clock import utc_now_iso
from common.etag import Changed, ContentionError, read_modify_write
from common.resources import INVENTORY_TABLE, find_row, table

STOCK_ROW = "stock"
RESERVATION_PREFIX = "reservation:"
RESERVED = "Reserved"
COMMITTED = "Committed"



class InventoryError(RuntimeError):
    """The stock rows are not in the state an operation needs (a data problem, not a business outcome)."""


class InventoryContentionError(InventoryError, ContentionError):
    """A stock row kept changing under us; retrying later is safe."""


def reservation_key(order_id: str) -> str:
    """RowKey of an order's reservation row inside a SKU partition."""
    return f"{RESERVATION_PREFIX}{order_id}"


def put_stock(sku: str, available: int, *, overwrite: bool = False) -> bool:
    """Set a SKU's stock row; without `overwrite` an existing row is kept. True when written."""
    entity = {"PartitionKey": sku, "RowKey": STOCK_ROW, "Available": int(available)}
    inventory = table(INVENTORY_TABLE)
    if overwrite:
        inventory.upsert_entity(entity, mode=UpdateMode.REPLACE)
        return True
    try:
        inventory.create_entity(entity)
    except ResourceExistsError:
        return False
    return True


def get_stock(sku: str) -> int | None:
    """Units of `sku` that may still be reserved, or None when the SKU has no stock row."""
    row = find_row(table(INVENTORY_TABLE), sku, STOCK_ROW)
    return None if row is None else int(row["Available"])


def get_reservation(order_id: str, sku: str) -> dict[str, Any] | None:
    """The order's reservation row for `sku` (Quantity, State), or None."""
    return find_row(table(INVENTORY_TABLE), sku, reservation_key(order_id))


def reservations(sku: str) -> list[dict[str, Any]]:
    """Every reservation row of a SKU (for reports, tests and resets)."""
    query = "PartitionKey eq @sku and RowKey ge @lo and RowKey lt @hi"
    # Every RowKey that starts with "reservation:" sorts before "reservation;" (":" + 1).
    bounds = {"sku": sku, "lo": RESERVATION_PREFIX, "hi": RESERVATION_PREFIX[:-1] + ";"}
    return list(table(INVENTORY_TABLE).query_entities(query, parameters=bounds))


def reserve(order_id: str, sku: str, quantity: int) -> bool:
    """Hold `quantity` units of `sku` for the order. False when not enough stock (or unknown SKU)."""
    inventory = table(INVENTORY_TABLE)
    row_key = reservation_key(order_id)

    def attempt() -> bool:
        if find_row(inventory, sku, row_key) is not None:
            return True
        stock = find_row(inventory, sku, STOCK_ROW)
        if stock is None or int(stock["Available"]) < quantity:
            return False
        reservation = {
            "PartitionKey": sku, "RowKey": row_key, "OrderId": order_id, "Quantity": quantity,
            "State": RESERVED, "ReservedAt": utc_now_iso(),
        }
        # 409: the same order's other attempt created the reservation first.
        _submit(inventory, [_change_stock(stock, -quantity), ("create", reservation)], lost_to=409)
        return True

    return read_modify_write(attempt, lambda: InventoryContentionError(
        f"Could not reserve {sku} for order {order_id}: its stock kept changing."))


def release(order_id: str, sku: str) -> bool:
    """Give the order's units of `sku` back to stock. False when there was nothing to release."""
    inventory = table(INVENTORY_TABLE)
    row_key = reservation_key(order_id)

    def attempt() -> bool:
        reservation = find_row(inventory, sku, row_key)
        if reservation is None:
            return False
        stock = find_row(inventory, sku, STOCK_ROW)
        if stock is None:
            raise InventoryError(f"SKU {sku} has a reservation for order {order_id} but no stock row.")
        delete = ("delete", reservation, {"etag": reservation.metadata["etag"],
                                          "match_condition": MatchConditions.IfNotModified})
        # 404: another attempt released it meanwhile.
        _submit(inventory, [delete, _change_stock(stock, int(reservation["Quantity"]))], lost_to=404)
        return True

    return read_modify_write(attempt, lambda: InventoryContentionError(
        f"Could not release {sku} for order {order_id}: its stock kept changing."))


def commit(order_id: str, sku: str) -> None:
    """Mark the order's reservation of `sku` as part of a created order (idempotent)."""
    inventory = table(INVENTORY_TABLE)
    reservation = find_row(inventory, sku, reservation_key(order_id))
    if reservation is None:
        raise InventoryError(f"Order {order_id} has no reservation for {sku} to commit.")
    if reservation["State"] != COMMITTED:
        inventory.update_entity(
            {"PartitionKey": sku, "RowKey": reservation_key(order_id), "State": COMMITTED,
             "CommittedAt": utc_now_iso()},
            mode=UpdateMode.MERGE,
        )


def reserve_all(order_id: str, quantities: Mapping[str, int]) -> list[str]:
    """Reserve every SKU of an order, all or nothing; returns the SKUs that were short.

    When any SKU is short, whatever this order holds is released again, so a
    rejected order never keeps stock from others.
    """
    missing = [sku for sku, quantity in sorted(quantities.items()) if not reserve(order_id, sku, quantity)]
    if missing:
        release_all(order_id, quantities)
    return missing


def release_all(order_id: str, skus: Iterable[str]) -> list[str]:
    """Release the order's reservations of `skus`; returns the SKUs actually given back."""
    return [sku for sku in sorted(set(skus)) if release(order_id, sku)]


def delete_reservations(sku: str) -> int:
    """Drop every reservation row of a SKU without touching its stock (for resets only)."""
    inventory = table(INVENTORY_TABLE)
    rows = reservations(sku)
    for row in rows:
        try:
            inventory.delete_entity(row["PartitionKey"], row["RowKey"])
        except ResourceNotFoundError:
            pass
    return len(rows)



def _submit(inventory: TableClient, operations: list[Any], lost_to: int) -> None:
    """Run a transaction guarded by the stock row's ETag; `Changed` when it lost a race: 412 (the stock row
    changed since it was read) or `lost_to` (the reservation row was created or deleted meanwhile)."""
    try:
        inventory.submit_transaction(operations)
    except TableTransactionError as error:
        if error.status_code in (412, lost_to):
            raise Changed from error
        raise


def _change_stock(stock: Any, delta: int) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """A transaction operation moving the stock row by `delta`, valid only if nobody changed it since read."""
    available = int(stock["Available"]) + delta
    entity = {"PartitionKey": stock["PartitionKey"], "RowKey": STOCK_ROW, "Available": available}
    return ("update", entity, {"mode": UpdateMode.MERGE, "etag": stock.metadata["etag"],
                               "match_condition": MatchConditions.IfNotModified})

