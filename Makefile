# `make demo`: install toklm and show the main example. `make test`: the whole test suite (CI runs it).
PY ?= python3
export CI ?= false

.PHONY: install install-test demo lint test bench

install:
	$(PY) -m pip install --quiet -e .

install-test:
	@echo "installing toklm, every extra and the test libraries: with CUDA torch (Linux x86-64)"
	@echo "about 6.7 GB installed, roughly half that downloaded; see README.md 'Two commands'"
	$(PY) -m pip install --progress-bar on -e ".[test,models,hub,economics,web,cluster]"

demo: install
	toklm demo

lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --features python -- -D warnings
	$(PY) -m ruff check python tests benchmarks scripts
	$(PY) -m mypy.stubtest toklm._core

test: install-test lint
	cargo test --release
	$(PY) -m pytest -q

bench: install-test
	$(PY) benchmarks/bench_tiktoken.py
