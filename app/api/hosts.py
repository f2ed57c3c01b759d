"""Placeholder; filled in by the query API step."""
from fastapi import APIRouter

router = APIRouter(prefix="/api/v1")
