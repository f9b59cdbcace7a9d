"""`traffic --duration/--rate`: keeps sending until the time is up, at the rate asked, to a real HTTP server."""
from __future__ import annotations

import io
import time

from aiohttp import web

from mlops_operator.plugin.traffic import paced
from tests.local_http import serve


async def test_paced_traffic_runs_for_its_duration_at_its_rate():
    seen: list[float] = []

    async def infer(request: web.Request) -> web.Response:
        await request.json()
        seen.append(time.monotonic())
        return web.json_response({"outputs": []}, headers={"x-seldon-predictor": "stable"})

    app = web.Application()
    app.router.add_post("/v2/models/model/infer", infer)
    runner, url = await serve(app)
    try:
        progress = io.StringIO()
        started = time.monotonic()
        total = await paced(url, "sklearn:iris", duration=2.0, rate=10, concurrency=2, model="model",
                            features=None, target="target", seed=0, progress=progress)
        elapsed = time.monotonic() - started
    finally:
        await runner.cleanup()
    assert 1.0 <= seen[-1] - seen[0] <= 2.6 and elapsed < 15  # requests spread over the 2 s (loading the data aside)
    assert 15 <= total.sent <= 30 and total.ok == total.sent == len(seen)  # ~10 a second for 2 s
    assert total.per_predictor == {"stable": total.sent} and total.status_codes == {200: total.sent}
    assert "sent" in progress.getvalue()
