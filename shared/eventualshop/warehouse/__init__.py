"""Warehouse bounded context (reference §5.8): inventories of an owner, the stock they hold,
the adjustments that change it and the reservations carts make on it.

Modules are imported by name (``eventualshop.warehouse.inventory``, ``.commands``, …): importing
the package imports nothing else, so the declaration stays cheap to read.
"""
