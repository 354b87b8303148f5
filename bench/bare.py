"""The reference the API's latencies are compared with: a bare FastAPI app under the same uvicorn settings,
one endpoint that validates a JSON body of an application's size (pydantic) and one that answers a GET."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()


class Body(BaseModel):
    locality: str
    applicant: dict[str, Any]
    incidents: list[dict[str, Any]]


@app.post("/bare")
async def bare_post(body: Body) -> dict[str, Any]:
    return {"locality": body.locality, "incidents": len(body.incidents)}


@app.get("/bare/{reference}")
async def bare_get(reference: str) -> dict[str, Any]:
    return {"reference": reference, "stage": "threshold_check"}
