"""The cluster spec and everything computed from it: validation, catalog, sizing, properties, rendering."""
