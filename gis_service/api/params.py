"""Bounded integer parameters shared by the routes: ids and versions that fit the database's columns.

Without bounds a request such as ``/api/v1/problems?offset=4789366699753309691010`` reached the
database driver and failed there (``OverflowError``, a 500); declared here, it is a 400 that names
the parameter, and the OpenAPI document states the range. Ids and lock versions are ``INTEGER``
columns (32 bits on PostgreSQL); offsets go to ``OFFSET`` (64 bits).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

MAX_ID = 2**31 - 1
MAX_OFFSET = 2**63 - 1

IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="编号（正整数）")]
IdQuery = Annotated[int, Query(ge=1, le=MAX_ID, description="编号（正整数）")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="跳过的条数")]
