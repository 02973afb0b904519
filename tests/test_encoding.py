"""The `Encoding` API beyond parity: errors, custom encodings, pickling, threads, numpy."""

from __future__ import annotations

import pickle
import threading

import numpy as np
import pytest
import toklm
from toklm import Encoding


def byte_encoding(**extra) -> Encoding:
    ranks = {bytes([b]): b for b in range(256)}
    ranks.update({b"ab": 256, b"abc": 257})
    return Encoding(
        "bytes",
        pat_str=r"\w+|\s+|[^\w\s]+",
        mergeable_ranks=ranks,
        special_tokens={"<|end|>": 300},
        **extra,
    )


def test_custom_encoding():
    enc = byte_encoding()
    assert enc.encode("abc ab") == [257, 32, 256]
    assert enc.n_vocab == 301 and enc.max_token_value == 300
    assert enc.encode("x<|end|>", allowed_special="all") == [120, 300]
    assert enc.decode([257, 300]) == "abc<|end|>"
    with pytest.raises(ValueError, match="explicit_n_vocab"):
        byte_encoding(explicit_n_vocab=5)


def test_custom_encoding_bad_vocabulary():
    with pytest.raises(TypeError, match="keys must be bytes"):
        Encoding("x", pat_str=r"\S+", mergeable_ranks={"a": 0}, special_tokens={})
    with pytest.raises(ValueError, match="0x00"):
        Encoding("x", pat_str=r"\S+", mergeable_ranks={b"a": 0}, special_tokens={})
    ranks = {bytes([b]): b for b in range(256)}
    ranks[b"zz"] = 5
    with pytest.raises(ValueError, match="rank 5 is given to two tokens"):
        Encoding("x", pat_str=r"\S+", mergeable_ranks=ranks, special_tokens={})
    with pytest.raises(ValueError, match="invalid pattern"):
        Encoding(
            "x",
            pat_str=r"(",
            mergeable_ranks={bytes([b]): b for b in range(256)},
            special_tokens={},
        )
    with pytest.raises(ValueError, match="special token"):
        Encoding(
            "x",
            pat_str=r"\S+",
            mergeable_ranks={bytes([b]): b for b in range(256)},
            special_tokens={"<s>": -1},
        )


def test_wrong_types_raise_type_error():
    enc = toklm.get_encoding("gpt2")
    for bad in (None, 5, b"bytes", ["list"]):
        with pytest.raises(TypeError):
            enc.encode(bad)
        with pytest.raises(TypeError):
            enc.encode_ordinary(bad)
    with pytest.raises(TypeError):
        enc.encode_ordinary_batch("not a list")
    with pytest.raises(TypeError):
        enc.encode_batch(["ok", 3])
    with pytest.raises(TypeError):
        enc.decode("abc")
    with pytest.raises(TypeError):
        enc.decode([1.5])
    with pytest.raises(TypeError):
        enc.is_special_token("50256")


def test_unknown_ids_raise_key_error_naming_the_id():
    enc = toklm.get_encoding("cl100k_base")
    for bad in (100256, 100261, 10**9, -1, 2**40):
        with pytest.raises(KeyError, match=str(bad)):
            enc.decode([15339, bad])
    with pytest.raises(KeyError, match="100256"):
        enc.decode_single_token_bytes(100256)
    with pytest.raises(KeyError):
        enc.decode_tokens_bytes([100256])
    with pytest.raises(KeyError):
        enc.decode_batch([[1], [100256]])
    with pytest.raises(KeyError):
        enc.encode_single_token("definitely not one token")


def test_disallowed_special_teaching_error():
    enc = toklm.get_encoding("cl100k_base")
    with pytest.raises(ValueError, match="disallowed special token '<\\|endoftext\\|>'"):
        enc.encode("hi <|endoftext|>")
    assert enc.encode("hi <|endoftext|>", disallowed_special=()) == enc.encode_ordinary(
        "hi <|endoftext|>"
    )
    assert enc.encode("<|endoftext|>", allowed_special={"<|endoftext|>"}) == [100257]
    with pytest.raises(ValueError):
        enc.encode_batch(["fine", "<|endofprompt|>"])
    with pytest.raises(ValueError):
        enc.count("<|endoftext|>")


def test_count_and_numpy():
    enc = toklm.get_encoding("o200k_base")
    text = "안녕하세요, 우리는 Gmarket입니다. 🎉" * 10
    ids = enc.encode(text)
    assert enc.count(text) == len(ids)
    arr = enc.encode_to_numpy(text)
    assert arr.dtype == np.uint32 and arr.tolist() == ids
    assert enc.count_batch([text, "", "a"]) == [len(ids), 0, 1]


def test_pickle_by_name_and_by_value():
    enc = toklm.get_encoding("cl100k_base")
    data = pickle.dumps(enc)
    assert len(data) < 100  # by name
    assert pickle.loads(data) is not None
    assert pickle.loads(data).encode("hello world") == [15339, 1917]
    custom = byte_encoding()
    again = pickle.loads(pickle.dumps(custom))
    assert again.encode("abc <|end|>", allowed_special="all") == [257, 32, 300]


def test_thread_safety():
    enc = toklm.get_encoding("cl100k_base")
    texts = [f"thread {i} says 안녕 {'x' * i}" for i in range(64)]
    expected = [enc.encode(t) for t in texts]
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(20):
                assert [enc.encode(t) for t in texts] == expected
                assert enc.encode_ordinary_batch(texts) == expected
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_decode_errors_argument():
    enc = toklm.get_encoding("gpt2")
    partial = enc.encode("🎉")[:2]
    assert enc.decode(partial) == "\ufffd"
    with pytest.raises(UnicodeDecodeError):
        enc.decode(partial, errors="strict")
    assert enc.decode_bytes(partial) == "🎉".encode()[:3]


def test_tiktoken_style_code_runs_unchanged():
    import toklm as tiktoken

    enc = tiktoken.encoding_for_model("gpt-4o")
    assert tiktoken.encoding_name_for_model("gpt-4o-mini") == "o200k_base"
    assert "o200k_harmony" in tiktoken.list_encoding_names()
    assert enc.decode(enc.encode("hello world")) == "hello world"
    with pytest.raises(KeyError, match="Could not automatically map"):
        tiktoken.encoding_for_model("no-such-model")
    with pytest.raises(ValueError, match="Unknown encoding"):
        tiktoken.get_encoding("no_such_encoding")
