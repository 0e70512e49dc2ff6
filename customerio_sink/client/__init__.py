"""The HTTP client for the Data Pipelines API and its guards: transport, retries, rate
limits, the shared budget, the circuit breaker, keys and regions.
"""
