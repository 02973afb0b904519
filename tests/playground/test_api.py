"""The JSON API through Starlette's TestClient, checked against `Encoding.encode`, tiktoken and
the Hugging Face `tokenizers` library."""

from __future__ import annotations

import json
import re

import pytest
import toklm
from hypothesis import given, settings
from hypothesis import strategies as st
from toklm.playground.app import create_app

from tests.cli.runner import KOREAN
from tests.playground.conftest import require

ENCODINGS = ["gpt2", "cl100k_base", "o200k_base"]
TEXTS = [KOREAN, "Hello world, we are Gmarket. 🎉", "", "  \n\tline two\r\n", "👨‍👩‍👧 é"]


def _check_record(rec: dict, text: str) -> None:
    """Offsets tile the text; bytes and pieces agree with the text they cover."""
    data = text.encode("utf-8")
    assert rec["count"] == len(rec["ids"]) == len(rec["pieces"]) == len(rec["bytes"])
    assert len(rec["starts"]) == len(rec["ends"]) == rec["count"]
    pos = 0
    for start, end, hexed, piece in zip(
        rec["starts"], rec["ends"], rec["bytes"], rec["pieces"], strict=True
    ):
        assert start == pos
        assert data[start:end] == bytes.fromhex(hexed)
        if piece is None:
            with pytest.raises(UnicodeDecodeError):
                bytes.fromhex(hexed).decode("utf-8")
        else:
            assert piece == bytes.fromhex(hexed).decode("utf-8")
        pos = end
    assert pos == len(data)


@pytest.mark.parametrize("text", TEXTS)
def test_tokenize_matches_encoding_and_tiktoken(client, tiktoken_ref, text: str) -> None:
    r = client.post("/api/tokenize", json={"text": text, "tokenizers": ENCODINGS})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["chars"] == len(text) and body["bytes"] == len(text.encode())
    for name, rec in zip(ENCODINGS, body["tokenizers"], strict=True):
        assert rec["tokenizer"] == name
        assert rec["ids"] == toklm.get_encoding(name).encode(text)
        assert rec["ids"] == tiktoken_ref(name).encode(text)
        _check_record(rec, text)


def test_issue_counts(client) -> None:
    r = client.post("/api/tokenize", json={"text": KOREAN, "tokenizers": ENCODINGS})
    assert [t["count"] for t in r.json()["tokenizers"]] == [37, 17, 10]
    o200k = r.json()["tokenizers"][2]
    assert o200k["pieces"][:2] == ["안", "녕하세요"]
    assert o200k["bytes"][-2:] == ["20f09f8e", "89"] and o200k["pieces"][-2:] == [None, None]


@pytest.mark.parametrize("text", TEXTS)
def test_tokenize_matches_hf_tokenizers(client, neox_path: str, text: str) -> None:
    tokenizers = require("tokenizers")
    ref = tokenizers.Tokenizer.from_file(f"{neox_path}/tokenizer.json")
    r = client.post("/api/tokenize", json={"text": text, "tokenizers": [neox_path]})
    assert r.status_code == 200, r.text
    rec = r.json()["tokenizers"][0]
    assert rec["ids"] == ref.encode(text, add_special_tokens=False).ids
    assert rec["name"] == neox_path
    _check_record(rec, text)


def test_hf_offsets_follow_the_original_text_when_normalized(client, neox_path: str) -> None:
    """gpt-neox-20b normalizes to NFC: the offsets still point into the text as sent."""
    text = "Cafe\u0301 ok"  # NFD é
    rec = client.post("/api/tokenize", json={"text": text, "tokenizers": [neox_path]}).json()
    rec = rec["tokenizers"][0]
    tokenizers = require("tokenizers")
    ref = tokenizers.Tokenizer.from_file(f"{neox_path}/tokenizer.json")
    assert rec["ids"] == ref.encode(text, add_special_tokens=False).ids
    data = text.encode()
    assert rec["starts"][0] == 0 and rec["ends"][-1] == len(data)
    assert data[rec["starts"][-1] : rec["ends"][-1]] == b" ok"


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=80))
def test_tokenize_any_text(text: str) -> None:
    client = _shared_client()
    r = client.post("/api/tokenize", json={"text": text, "tokenizers": ["cl100k_base", "gpt2"]})
    assert r.status_code == 200, r.text
    clean = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    for name, rec in zip(["cl100k_base", "gpt2"], r.json()["tokenizers"], strict=True):
        assert rec["ids"] == toklm.get_encoding(name).encode_ordinary(text)
        _check_record(rec, clean)


_CLIENT: list = []


def _shared_client():
    from starlette.testclient import TestClient

    if not _CLIENT:
        _CLIENT.append(TestClient(create_app(), base_url="http://127.0.0.1"))
    return _CLIENT[0]


def test_fields_pick_the_arrays(client) -> None:
    body = {"text": KOREAN, "tokenizers": ["o200k_base"], "fields": ["ids", "offsets"]}
    rec = client.post("/api/tokenize", json=body).json()["tokenizers"][0]
    assert rec["ids"][:2] == [14307, 171731] and rec["starts"][:2] == [0, 3]
    assert "pieces" not in rec and "bytes" not in rec and rec["count"] == 10
    body["fields"] = ["colour"]
    r = client.post("/api/tokenize", json=body)
    assert r.status_code == 400 and '"fields" must be' in r.json()["error"]


@pytest.mark.parametrize("path", ["/api/tokenize", "/api/view", "/api/premium"])
def test_lone_surrogates_become_replacement_characters(client, path: str) -> None:
    body = b'{"text": "a\\ud800b \\ud83c\\udf89", "english": "x\\udfff", "other": "y",'
    body += b' "tokenizers": ["gpt2"]}'
    r = client.post(path, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    if path == "/api/tokenize":
        rec = r.json()["tokenizers"][0]
        assert rec["ids"] == toklm.get_encoding("gpt2").encode("a\ufffdb 🎉")


def test_special_token_text_is_ordinary_text(client) -> None:
    r = client.post("/api/tokenize", json={"text": "<|endoftext|>", "tokenizers": ["gpt2"]})
    assert r.json()["tokenizers"][0]["ids"] == toklm.get_encoding("gpt2").encode_ordinary(
        "<|endoftext|>"
    )


def test_model_names_resolve_to_their_encoding(client) -> None:
    rec = client.post("/api/tokenize", json={"text": KOREAN, "tokenizers": ["gpt-4o"]}).json()
    rec = rec["tokenizers"][0]
    assert rec["tokenizer"] == "gpt-4o" and rec["name"] == "gpt-4o (o200k_base)"
    assert rec["count"] == 10


def test_listing(client, neox_path: str) -> None:
    body = client.get("/api/tokenizers").json()
    ids = [c["id"] for c in body["tokenizers"]]
    assert set(toklm.list_encoding_names()) <= set(ids)
    assert neox_path in ids and "gpt-4o" in ids
    assert "gpt-4o" in body["models"]
    assert {"code": "ko", "name": "Korean"} in body["languages"]
    assert body["max_chars"] == 1_000_000 and body["max_tokenizers"] == 4


def test_view_draws_counts_cost_and_windows(client) -> None:
    r = client.post("/api/view", json={"text": KOREAN, "tokenizers": ENCODINGS, "model": "gpt-4o"})
    assert r.status_code == 200, r.text
    body = r.json()
    for n in (37, 17, 10):
        assert f'data-count="{n}"' in body["html"]
    assert body["window"] == {"start": 0, "end": len(KOREAN.encode()), "done": True}
    assert body["cost"]["tokens"] == 10 and body["cost"]["encoding"] == "o200k_base"
    assert body["cost"]["input_usd"] == pytest.approx(10 * 2.5 / 1e6)


ID_SPAN = re.compile(r'<span class="id[^"]*" data-i="(\d+)">(\d+)</span>')


def test_view_windows_cover_every_token_once(client) -> None:
    """Drawing window after window draws each token of each tokenizer exactly once, in order."""
    text = (KOREAN + "\n") * 300
    drawn: list[list[tuple[int, int]]] = [[] for _ in ENCODINGS]
    start = 0
    while True:
        body = {"text": text, "tokenizers": ENCODINGS, "start": start, "max_tokens": 500}
        got = client.post("/api/view", json=body).json()
        if start == 0:
            assert 'class="more"' in got["html"]
            sections = got["html"].split('<section class="tk"')[1:]
            ids_html = [sec.split('<div class="ids">')[1] for sec in sections]
        else:
            ids_html = [col["ids"] for col in got["columns"]]
        for k, part in enumerate(ids_html):
            found = [(int(i), int(t)) for i, t in ID_SPAN.findall(part)]
            assert 0 < len(found) <= 500
            drawn[k] += found
        if got["window"]["done"]:
            break
        assert got["window"]["end"] > start
        start = got["window"]["end"]
    for k, name in enumerate(ENCODINGS):
        ids = toklm.get_encoding(name).encode(text)
        assert drawn[k] == list(enumerate(ids))


def test_premium_bundled_and_pasted(client) -> None:
    r = client.post("/api/premium", json={"tokenizers": ENCODINGS, "language": "ko"})
    assert r.status_code == 200, r.text
    rows = r.json()["rows"]
    assert [row["tokenizer"] for row in rows] == ENCODINGS
    assert rows[0]["premium"] > rows[1]["premium"] > rows[2]["premium"] > 1
    pasted = {"tokenizers": ["gpt2"], "english": "Hello world", "other": "안녕하세요 세계"}
    row = client.post("/api/premium", json=pasted).json()["rows"][0]
    assert row["english_tokens"] == 2 and row["other_tokens"] == len(
        toklm.get_encoding("gpt2").encode("안녕하세요 세계")
    )


# ---- bad input ------------------------------------------------------------------------------


def test_ten_megabyte_paste_is_refused_with_a_clear_message(client) -> None:
    text = "가" * 10_000_000
    r = client.post("/api/tokenize", json={"text": text, "tokenizers": ["gpt2"]})
    assert r.status_code == 413
    assert "at most 1,000,000" in r.json()["error"] and "--max-chars" in r.json()["error"]
    small = create_app(max_chars=10)
    from starlette.testclient import TestClient

    r = TestClient(small, base_url="http://127.0.0.1").post(
        "/api/view", json={"text": "x" * 11, "tokenizers": ["gpt2"]}
    )
    assert r.status_code == 413
    assert "11 characters" in r.json()["error"] and "at most 10" in r.json()["error"]


def test_oversized_body_is_refused_before_parsing(client) -> None:
    r = client.post(
        "/api/view", content=b"[" * 13_000_000, headers={"content-type": "application/json"}
    )
    assert r.status_code == 413 and "too large" in r.json()["error"]


@pytest.mark.parametrize("path", ["/api/tokenize", "/api/view", "/api/premium"])
def test_unknown_tokenizer_is_a_4xx_naming_it(client, path: str) -> None:
    body = {"text": "hi", "language": "ko", "tokenizers": ["gpt2", "no-such-tokenizer"]}
    r = client.post(path, json=body)
    assert r.status_code == 422
    assert r.json()["tokenizer"] == "no-such-tokenizer"
    assert "unknown tokenizer 'no-such-tokenizer'" in r.json()["error"]


def test_paths_not_given_on_the_command_line_are_refused(client, tmp_path) -> None:
    r = client.post("/api/tokenize", json={"text": "hi", "tokenizers": ["/etc/passwd"]})
    assert r.status_code == 422 and "--tokenizer PATH" in r.json()["error"]
    r = client.post("/api/tokenize", json={"text": "hi", "tokenizers": ["hf:nobody/nothing"]})
    assert r.status_code == 422 and "hub cache" in r.json()["error"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "malformed JSON"),
        (b'{"text": "a"', "malformed JSON"),
        (b"\xff\xfe", "malformed JSON: not UTF-8"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"text": 5, "tokenizers": ["gpt2"]}', '"text" must be a string'),
        (b'{"text": "a", "tokenizers": "gpt2"}', '"tokenizers" must be a list'),
        (b'{"text": "a", "tokenizers": []}', "choose 1 to 4 tokenizers"),
        (b'{"text": "a", "tokenizers": ["gpt2", "r50k_base", "p50k_base", "cl100k_base", '
         b'"o200k_base"]}', "choose 1 to 4 tokenizers, got 5"),
    ],
)  # fmt: skip
def test_malformed_requests_get_400(client, body: bytes, message: str) -> None:
    for path in ("/api/tokenize", "/api/view"):
        r = client.post(path, content=body, headers={"content-type": "application/json"})
        assert r.status_code == 400, (path, r.text)
        assert message in r.json()["error"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [({"start": -1}, '"start"'), ({"max_tokens": 0}, '"max_tokens"'), ({"model": 3}, '"model"')],
)
def test_view_fields_are_checked(client, extra: dict, message: str) -> None:
    r = client.post("/api/view", json={"text": "a", "tokenizers": ["gpt2"], **extra})
    assert r.status_code == 400 and message in r.json()["error"]


def test_unknown_model_and_language(client) -> None:
    r = client.post("/api/view", json={"text": "a", "tokenizers": ["gpt2"], "model": "gpt-4oo"})
    assert r.status_code == 422 and "gpt-4o" in r.json()["error"]  # did you mean
    r = client.post("/api/premium", json={"tokenizers": ["gpt2"], "language": "xx"})
    assert r.status_code == 422 and "'xx'" in r.json()["error"]


def test_other_hosts_are_refused_on_loopback() -> None:
    from starlette.testclient import TestClient
    from toklm.playground.app import LOOPBACK_HOSTS

    app = create_app(allowed_hosts=LOOPBACK_HOSTS)
    assert TestClient(app, base_url="http://127.0.0.1:8765").get("/").status_code == 200
    assert TestClient(app, base_url="http://localhost:8765").get("/").status_code == 200
    assert TestClient(app, base_url="http://evil.example:8765").get("/").status_code == 400


def test_page_and_assets_are_served_and_load_nothing_from_elsewhere(client) -> None:
    page = client.get("/")
    assert (
        page.status_code == 200 and "default-src 'self'" in page.headers["content-security-policy"]
    )
    for name in ("view.css", "view.js", "playground.css", "playground.js"):
        r = client.get(f"/static/{name}")
        assert r.status_code == 200, name
        assert "http://" not in r.text and "https://" not in r.text, name
    assert "http" not in page.text.replace("http-equiv", "")
    assert client.get("/static/../app.py").status_code == 404
    assert client.get("/nope").json() == {"error": "Not Found"}


def test_errors_are_json(client) -> None:
    r = client.get("/api/tokenize")
    assert r.status_code == 405 and "error" in r.json()
    assert json.loads(client.post("/api/view", content=b"").text)["error"].startswith("malformed")


def test_hub_cache_repos_are_offered_and_load_offline(
    monkeypatch: pytest.MonkeyPatch, tmp_path, neox_path: str
) -> None:
    """A repo in the Hugging Face hub cache is offered as hf:ORG/NAME and loads from there."""
    import shutil

    from starlette.testclient import TestClient
    from toklm.playground.catalog import Catalog

    commit = "0" * 40
    snapshot = tmp_path / "models--EleutherAI--gpt-neox-20b" / "snapshots" / commit
    snapshot.mkdir(parents=True)
    shutil.copy(f"{neox_path}/tokenizer.json", snapshot / "tokenizer.json")
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    client = TestClient(create_app(Catalog()), base_url="http://127.0.0.1")
    ids = [c["id"] for c in client.get("/api/tokenizers").json()["tokenizers"]]
    assert "hf:EleutherAI/gpt-neox-20b" in ids
    body = {"text": KOREAN, "tokenizers": ["hf:EleutherAI/gpt-neox-20b"]}
    rec = client.post("/api/tokenize", json=body).json()["tokenizers"][0]
    tokenizers = require("tokenizers")
    ref = tokenizers.Tokenizer.from_file(f"{neox_path}/tokenizer.json")
    assert rec["ids"] == ref.encode(KOREAN, add_special_tokens=False).ids
    assert rec["name"] == "EleutherAI/gpt-neox-20b"


def test_a_bug_is_a_json_500_with_its_message(catalog) -> None:
    from starlette.testclient import TestClient

    class Broken(type(catalog)):  # type: ignore[misc]
        def get(self, spec: str):
            raise RuntimeError("kaboom")

    app = create_app(Broken())
    client = TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False)
    r = client.post("/api/view", json={"text": "x", "tokenizers": ["gpt2"]})
    assert r.status_code == 500 and "RuntimeError: kaboom" in r.json()["error"]
