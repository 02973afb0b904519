#!/usr/bin/env bash
# The whole GPU check in one run, for a machine with a CUDA GPU (e.g. the project's lent H200):
# the CUDA tests, then bench_gpu.py. About 7 minutes; logs and JSON go to $OUT (or ./gpu-check).
#
# toklm's native module must be there: it is built here as python/toklm/_core.abi3.so (abi3, so
# any CPython >= 3.10 on x86-64 loads it) and is git-ignored, so carry it along, e.g. with the
# device tool: run(command="bash benchmarks/gpu_check.sh", carry=["python/toklm/_core.abi3.so"],
# timeout_s=600). Nothing is installed: the machine's own torch and transformers are used.
set -u -o pipefail
cd "$(dirname "$0")/.."
out="${OUT:-gpu-check}"
mkdir -p "$out"
export PYTHONPATH="$PWD/python${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
py=$(command -v python3 || command -v python)
{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
    "$py" -c 'import sys, torch, transformers; print(sys.version.split()[0], torch.__version__,
        transformers.__version__, torch.cuda.is_available())'
} 2>&1 | tee "$out/env.txt"
timeout 180 "$py" -m pytest -q -rs -p no:cacheprovider tests/models/test_cuda.py 2>&1 \
    | tee "$out/test_cuda.txt"
tests=$?
timeout 390 "$py" benchmarks/bench_gpu.py --json "$out/bench_gpu.json" 2>&1 | tee "$out/bench_gpu.txt"
bench=$?
echo "test_cuda exit $tests, bench_gpu exit $bench" | tee -a "$out/env.txt"
exit $((tests || bench))
