"""Reconcile: compare a bucket listing with the catalog and repair the difference, resumably."""
