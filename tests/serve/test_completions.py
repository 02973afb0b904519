"""Completions through the real `openai` client: equal to `toklm generate` and transformers,
streamed equal to non-streamed, usage counts, seeds independent of neighbours."""

from __future__ import annotations

import threading

import pytest

from .conftest import torch

PROMPT = "Hello world, we are"


def test_greedy_equals_toklm_generate_and_transformers(server, model_dir, capsys):
    import transformers
    from toklm.cli import main

    out = server.client.completions.create(
        model="tiny", prompt=PROMPT, max_tokens=12, temperature=0
    )
    assert (
        main(["generate", "-m", str(model_dir), PROMPT, "--max-new-tokens", "12", "--no-prompt"])
        == 0
    )
    cli_text = capsys.readouterr().out.removesuffix("\n")
    tok = server.service.tokenizer
    ids = tok.encode(PROMPT)
    hf = transformers.AutoModelForCausalLM.from_pretrained(model_dir)
    ref = hf.generate(torch.tensor([ids]), max_new_tokens=12, do_sample=False)
    hf_text = tok.decode(ref[0, len(ids) :].tolist(), skip_special_tokens=True)
    assert out.choices[0].text == cli_text == hf_text
    assert out.usage.prompt_tokens == len(ids)


@pytest.mark.parametrize(
    "extra",
    [
        dict(temperature=0),
        dict(temperature=0.9, seed=11, n=2, top_p=0.95, extra_body={"top_k": 40}),
        dict(temperature=0, stop=[" the", "ing"], logprobs=2, echo=True),
    ],
)
def test_stream_concatenation_equals_non_stream_and_usage_agrees(server, extra):
    c = server.client
    whole = c.completions.create(model="tiny", prompt=PROMPT, max_tokens=20, **extra)
    chunks = list(
        c.completions.create(
            model="tiny",
            prompt=PROMPT,
            max_tokens=20,
            stream=True,
            stream_options={"include_usage": True},
            **extra,
        )
    )
    n = extra.get("n", 1)
    for i in range(n):
        streamed = "".join(
            ch.choices[0].text for ch in chunks if ch.choices and ch.choices[0].index == i
        )
        assert streamed == whole.choices[i].text
        reasons = [
            ch.choices[0].finish_reason
            for ch in chunks
            if ch.choices and ch.choices[0].index == i and ch.choices[0].finish_reason
        ]
        assert reasons == [whole.choices[i].finish_reason]
    assert chunks[-1].choices == [] and chunks[-1].usage == whole.usage
    assert all(ch.usage is None for ch in chunks[:-1])
    ids = server.service.tokenizer.encode(PROMPT)
    assert whole.usage.prompt_tokens == len(ids)
    if all(ch.finish_reason == "length" for ch in whole.choices):
        assert whole.usage.completion_tokens == 20 * n
    if extra.get("echo"):
        assert whole.choices[0].text.startswith(PROMPT)
        lp = whole.choices[0].logprobs
        assert lp.token_logprobs[0] is None and len(lp.tokens) >= len(ids)
        assert "".join(lp.tokens[: len(ids)]) == PROMPT


def test_token_ids_prompt_and_list_of_prompts(server):
    tok = server.service.tokenizer
    by_text = server.client.completions.create(
        model="tiny", prompt=["a cat", "a dog"], max_tokens=5, temperature=0
    )
    by_ids = server.client.completions.create(
        model="tiny",
        prompt=[tok.encode("a cat"), tok.encode("a dog")],
        max_tokens=5,
        temperature=0,
    )
    assert [ch.text for ch in by_text.choices] == [ch.text for ch in by_ids.choices]
    assert [ch.index for ch in by_ids.choices] == [0, 1]


def test_seeded_sampling_alone_equals_shared_with_seven_others(server):
    kw = dict(
        model="tiny",
        max_tokens=24,
        temperature=0.8,
        top_p=0.9,
        seed=1234,
        extra_body={"top_k": 30, "repetition_penalty": 1.3},
    )
    alone = server.client.completions.create(prompt=PROMPT, **kw).choices[0].text
    results: dict[int, str] = {}
    barrier = threading.Barrier(8)

    def one(i: int) -> None:
        args = dict(kw, seed=1234 if i == 0 else i, max_tokens=24 + 3 * i)
        barrier.wait()
        results[i] = (
            server.client.completions.create(prompt=PROMPT if i == 0 else f"{PROMPT} {i}", **args)
            .choices[0]
            .text
        )

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results[0] == alone
    assert len(set(results.values())) > 1


def test_chat_uses_the_checkpoint_template(server):
    from .conftest import CHAT_TEMPLATE  # noqa: F401

    messages = [{"role": "user", "content": "Hi there"}]
    out = server.client.chat.completions.create(
        model="tiny", messages=messages, max_tokens=8, temperature=0
    )
    tok = server.service.tokenizer
    rendered = "<|user|>Hi there\n<|assistant|>"
    assert out.usage.prompt_tokens == len(tok.encode(rendered, add_special_tokens=False))
    plain = server.client.completions.create(
        model="tiny",
        prompt=tok.encode(rendered, add_special_tokens=False),
        max_tokens=8,
        temperature=0,
    )
    assert out.choices[0].message.content == plain.choices[0].text
    chunks = list(
        server.client.chat.completions.create(
            model="tiny",
            messages=messages,
            max_tokens=8,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == out.choices[0].message.content
    assert chunks[-1].usage == out.usage


def test_embeddings_models_tokenize_detokenize_count(server):
    from toklm import get_encoding

    tok = server.service.tokenizer
    emb = server.client.embeddings.create(model="tiny", input=["one two", "three"])
    assert [d.index for d in emb.data] == [0, 1]
    vec = torch.tensor(emb.data[0].embedding)
    assert vec.shape == (16,) and abs(float(vec.norm()) - 1) < 1e-5
    assert emb.usage.prompt_tokens == len(tok.encode("one two")) + len(tok.encode("three"))
    assert [m.id for m in server.client.models.list().data] == ["tiny"]

    text = "Tokenize me, please: ünïcödé 😀"
    got = server.http.post("/tokenize", json={"model": "tiny", "prompt": text}).json()
    assert got["tokens"] == list(tok.encode(text)) and got["count"] == len(got["tokens"])
    back = server.http.post("/detokenize", json={"model": "tiny", "tokens": got["tokens"]})
    assert back.json() == {"prompt": text}
    counts = {
        m: server.http.post("/tokenize/count", json={"model": m, "prompt": text}).json()
        for m in ("gpt-4o", "o200k_base")
    }
    expected = len(get_encoding("o200k_base").encode(text))
    assert counts["gpt-4o"] == counts["o200k_base"] == {"count": expected}
    assert server.http.post("/tokenize/count", json={"prompt": text}).json() == {
        "count": len(got["tokens"])
    }


def test_chat_template_features_transformers_templates_use():
    from toklm.serve.chat import ChatTemplate, ChatTemplateError

    source = (
        "{% for m in messages %}{% if m.role not in ['user', 'assistant'] %}"
        "{{ raise_exception('roles must be user or assistant') }}{% endif %}"
        "{% if loop.index > 2 %}{% break %}{% endif %}"
        "{{ bos_token }}{{ m.role }}: {{ m.content | tojson }}"
        "{% if not loop.last %}{{ '\\n' }}{% endif %}"
        "{% endfor %}{% if add_generation_prompt %} ->{% endif %}"
        "{% if strftime_now('%Y') | int > 2000 %}.{% endif %}"
    )
    t = ChatTemplate(source, {"bos_token": "<s>"})
    msgs = [{"role": "user", "content": "héllo"}, {"role": "assistant", "content": "hi"}]
    assert t.render(msgs) == '<s>user: "héllo"\n<s>assistant: "hi" ->.'
    with pytest.raises(ChatTemplateError, match="roles must be user or assistant"):
        t.render([{"role": "tool", "content": "x"}])
    with pytest.raises(ChatTemplateError, match="does not compile"):
        ChatTemplate("{% for %}")
    with pytest.raises(ChatTemplateError):  # the sandbox refuses attribute access to internals
        ChatTemplate("{{ messages.__class__.__mro__ }}").render([])


def test_echo_logprobs_score_the_prompt_as_lm_eval_asks(server):
    # lm-evaluation-harness's loglikelihood request: echo the prompt with its logprobs.
    tok = server.service.tokenizer
    ids = list(tok.encode(PROMPT))
    out = server.client.completions.create(
        model="tiny", prompt=ids, max_tokens=1, temperature=0, echo=True, logprobs=3
    )
    lp = out.choices[0].logprobs
    n = len(ids)
    assert lp.token_logprobs[0] is None and lp.top_logprobs[0] is None
    ll = server.service.model.log_likelihood(ids).log_likelihood
    assert sum(lp.token_logprobs[1:n]) == pytest.approx(ll, abs=1e-4)
    for value, top in zip(lp.token_logprobs[1:], lp.top_logprobs[1:], strict=True):
        assert 1 <= len(top) <= 3 and max(top.values()) >= value - 1e-6  # pieces may repeat
    assert len(lp.tokens) == n + 1 and out.choices[0].text.startswith(PROMPT)
