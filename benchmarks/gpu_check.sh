#!/usr/bin/env bash
# The CUDA checks of VCRegICA, for a machine with an NVIDIA GPU (the device
# tool's): the package's CUDA tests, then the m = 128, N = 10^6 float32
# benchmark with VCRegICA's solver on the GPU against FastICA on the CPU, in one
# process. It uses the machine's own python3, torch, numpy, scipy and
# scikit-learn (nothing is installed; the package runs from this checkout) and
# writes its log to $OUT/gpu_check.log (./gpu_check.log without $OUT). About
# ten minutes: give it a limit of 600 s.
#
#     bash benchmarks/gpu_check.sh
set -uo pipefail
log=${OUT:-.}/gpu_check.log
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    python3 -c "import torch, numpy, scipy, sklearn; print('torch', torch.__version__,
'cuda', torch.cuda.is_available(), 'numpy', numpy.__version__, 'scipy',
scipy.__version__, 'scikit-learn', sklearn.__version__)"
    timeout 200 python3 -m pytest -q -p no:cacheprovider -o addopts="" \
        tests/test_ica.py tests/test_hsic.py tests/test_embedder.py \
        tests/test_torch_utils.py -k "cuda or gpu or device"
    timeout 380 python3 benchmarks/bench_ica.py --protocol random --n-sources 128 \
        --n-samples 1000000 --n-reps 1 --dtype float32 --methods VCRegICA,FastICA \
        --device cuda
} 2>&1 | tee "$log"
