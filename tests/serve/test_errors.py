"""Bad input and overload: clear 4xx answers, rows freed, the server healthy afterwards."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from .conftest import httpx, openai, running_server, tiny_checkpoint


def error(response) -> str:
    body = response.json()
    return body["error"]["message"]


def test_malformed_json_unknown_fields_and_bad_values_get_400(server):
    http = server.http
    r = http.post(
        "/v1/completions",
        content=b'{"model": "tiny", "prompt": ',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400 and "malformed JSON" in error(r)
    r = http.post("/v1/completions", json={"model": "tiny", "prompt": "x", "max_tokenz": 3})
    assert r.status_code == 400 and "unknown field 'max_tokenz'" in error(r)
    r = http.post("/v1/completions", json={"model": "tiny", "prompt": "x", "temperature": -1})
    assert r.status_code == 400 and "temperature" in error(r)
    r = http.post("/v1/completions", json={"model": "tiny", "prompt": [99999999]})
    assert r.status_code == 400 and "99999999" in error(r)
    r = http.post("/v1/completions", json={"model": "other", "prompt": "x"})
    assert r.status_code == 404 and "'other'" in error(r)
    r = http.post("/tokenize/count", json={"model": "no-such-model", "prompt": "x"})
    assert r.status_code == 404
    with pytest.raises(openai.BadRequestError, match="unknown field"):
        server.client.completions.create(model="tiny", prompt="x", extra_body={"bogus": 1})


def test_prompt_longer_than_context_names_both_lengths(server):
    ids = [5] * 70  # the context is 64
    r = server.http.post("/v1/completions", json={"model": "tiny", "prompt": ids})
    assert r.status_code == 400
    assert "70 tokens" in error(r) and "context is 64" in error(r)


def test_max_tokens_is_capped_at_the_context(server):
    ids = [5] * 60
    out = server.client.completions.create(
        model="tiny",
        prompt=ids,
        max_tokens=10_000,
        temperature=0,
        extra_body={"ignore_eos": True},
    )
    assert out.usage.completion_tokens == 4 and out.choices[0].finish_reason == "length"


def test_body_size_is_bounded(server):
    r = server.http.post("/v1/completions", content=b"x" * (5 << 20))
    assert r.status_code == 413


def test_chat_without_a_template_is_a_clear_400(tmp_path):
    with running_server(tiny_checkpoint(tmp_path, chat_template=False)) as s:
        with pytest.raises(openai.BadRequestError, match="no chat template"):
            s.client.chat.completions.create(
                model="tiny", messages=[{"role": "user", "content": "hi"}]
            )


def test_api_key_guards_v1_but_not_health(tmp_path):
    with running_server(tiny_checkpoint(tmp_path), api_key="sesame") as s:
        bare = httpx.Client(base_url=s.url)
        assert bare.get("/v1/models").status_code == 401
        assert bare.post("/v1/completions", json={"prompt": "x"}).status_code == 401
        wrong = bare.get("/v1/models", headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert bare.get("/health").status_code == 200
        assert s.client.models.list().data[0].id == "tiny"
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=f"{s.url}/v1", api_key="nope").models.list()


@pytest.fixture(scope="module")
def long_dir(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("long"), context=4096)


def test_client_disconnect_mid_stream_frees_its_row(long_dir):
    with running_server(long_dir, max_batch=2) as s:
        engine = s.service.engine
        body = {
            "model": "tiny",
            "prompt": "Once upon",
            "max_tokens": 4000,
            "stream": True,
            "ignore_eos": True,
        }
        with s.http.stream("POST", "/v1/completions", json=body) as r:
            lines = r.iter_lines()
            next(line for line in lines if line.startswith("data:"))
            assert engine.running == 1
        deadline = time.monotonic() + 10
        while engine.running and time.monotonic() < deadline:
            time.sleep(0.01)
        assert engine.running == 0
        assert s.service.metrics.generation_tokens < 4000
        assert s.http.get("/health").status_code == 200


def test_client_gone_during_a_non_streamed_request_frees_its_row(long_dir):
    with running_server(long_dir, max_batch=2) as s:
        engine = s.service.engine
        body = {"model": "tiny", "prompt": "Once upon", "max_tokens": 4000, "ignore_eos": True}
        with pytest.raises(httpx.TimeoutException):
            httpx.post(f"{s.url}/v1/completions", json=body, timeout=0.5)
        deadline = time.monotonic() + 10
        while (engine.running or engine.queue_depth) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert engine.running == 0 and s.service.metrics.generation_tokens < 4000


def test_max_model_len_bounds_the_cache_and_the_prompt(long_dir):
    with running_server(long_dir, max_model_len=32) as s:
        assert s.service.engine.cache.k.shape[3] == 32
        r = s.http.post("/v1/completions", json={"model": "tiny", "prompt": [5] * 40})
        assert r.status_code == 400
        assert "40 tokens" in error(r) and "context is 32" in error(r)
        out = s.client.completions.create(
            model="tiny", prompt=[5] * 30, max_tokens=100, temperature=0,
            extra_body={"ignore_eos": True},
        )  # fmt: skip
        assert out.usage.completion_tokens == 2


def test_full_queue_gets_429(long_dir):
    import threading

    with running_server(long_dir, max_batch=1, max_queue=1) as s:
        release = threading.Event()
        held = s.service.engine.call(release.wait)  # the engine thread waits: nothing is admitted
        try:
            with ThreadPoolExecutor(2) as pool:
                first = pool.submit(
                    s.client.completions.create, model="tiny", prompt="a", max_tokens=2
                )
                second = pool.submit(
                    s.client.completions.create, model="tiny", prompt="b", max_tokens=2
                )
                while s.service.engine.queue_depth < 2:  # one free row + one queue place
                    time.sleep(0.01)
                with pytest.raises(openai.RateLimitError, match="busy"):
                    s.client.completions.create(model="tiny", prompt="c", max_tokens=2)
                release.set()
                assert first.result().usage.completion_tokens <= 2
                assert second.result().usage.completion_tokens <= 2
        finally:
            release.set()
            held.result()
        assert s.http.get("/health").status_code == 200


def test_load_200_requests_at_concurrency_32_answered_or_refused(long_dir):
    async def load(url: str) -> list[int]:
        limits = httpx.Limits(max_connections=32)
        async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
            gate = asyncio.Semaphore(32)

            async def one(i: int) -> int:
                async with gate:
                    body = {
                        "model": "tiny",
                        "prompt": f"request {i}",
                        "max_tokens": 8 + i % 9,
                        "temperature": 0.7,
                        "seed": i,
                        "stream": i % 3 == 0,
                    }
                    r = await client.post("/v1/completions", json=body)
                    if r.status_code == 200 and not body["stream"]:
                        assert r.json()["choices"][0]["finish_reason"] in ("stop", "length")
                    if r.status_code == 200 and body["stream"]:
                        assert r.text.rstrip().endswith("data: [DONE]")
                    return r.status_code

            return await asyncio.gather(*(one(i) for i in range(200)))

    with running_server(long_dir, max_batch=8, max_queue=8) as s:
        start = time.monotonic()
        codes = asyncio.run(load(s.url))
        assert time.monotonic() - start < 60
        assert set(codes) <= {200, 429} and codes.count(200) >= 16
        assert s.http.get("/health").status_code == 200
        assert s.service.engine.running == 0 and s.service.engine.queue_depth == 0
        metrics = s.http.get("/metrics").text
        assert (
            f'toklm_requests_total{{route="/v1/completions",status="200"}} {codes.count(200)}'
            in metrics
        )
