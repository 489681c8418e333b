"""Shared pytest configuration: fixtures live in tests/fixtures/, one module per real server."""

pytest_plugins = [
    "tests.fixtures.dask_cluster",
    "tests.fixtures.httpbin",
    "tests.fixtures.redis_server",
    "tests.fixtures.sql_servers",
]
