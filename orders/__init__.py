"""Order processing (chaining): the domain behind OrderProcessing_Client, _Orchestrator and the order activities.

    contract       function names the starter, orchestrator and activities share
    requests       the rules for a new order or an order reference (400s name the field)
    settings       the workflow's app settings (retries)
    store          the Orders table: an order, its items and status
    catalog        the Products table: SKU, name, price
    inventory      the Inventory table: stock and per-order reservations (ETag-guarded)
    payments       the Payments table: one charge per order, refunds
    confirmation   the confirmation e-mail written to the outbox
    money          amounts as Decimal, stored as "25.00"
"""
