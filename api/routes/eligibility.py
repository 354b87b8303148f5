"""Placeholder: replaced by the threshold work."""

from fastapi import APIRouter

router = APIRouter()
