"""Reporting through Customer.io's App API: the client and its lookup cache."""
