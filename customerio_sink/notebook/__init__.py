"""Scaffolding for the notebook suite: session setup, and a stand-in for ``dbutils``
outside Databricks.
"""
