"""Catalog bounded context (reference §5.2): catalogs of products offered for sale, each item
pointing at the inventory that holds its stock.

Modules are imported by name (``eventualshop.catalog.catalog``, ``.commands``, …): importing the
package imports nothing else, so the declaration stays cheap to read.
"""
