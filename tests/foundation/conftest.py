"""Databases of their own for the tests that change the schema: a clone of the migrated
template, or an empty database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from tests.conftest import clone_database, drop_database


@pytest.fixture
def clone_url(request, pg_server_url: str, template_url: str) -> Iterator[str]:
    """A fresh copy of the fully migrated template for this test."""
    url = clone_database(pg_server_url, template_url, request.node.name)
    try:
        yield url
    finally:
        drop_database(pg_server_url, url)


@pytest.fixture
def empty_url(pg_server_url: str) -> Iterator[str]:
    """A brand-new database with nothing applied."""
    name = f"t_empty_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    url = make_conninfo(pg_server_url, dbname=name)
    try:
        yield url
    finally:
        drop_database(pg_server_url, url)
