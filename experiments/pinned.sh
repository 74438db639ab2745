# Sourced by a study's run.sh: `pinned`, a command prefix that runs a zoo build with its
# floating-point arithmetic pinned (MKL's AVX2 code path with conditional numerical
# reproducibility, PyTorch's and oneDNN's AVX2 kernels, 2 threads), so that a machine with
# another x86 CPU rebuilds the same bytes. Unpinned, the kernels follow the CPU: session 11's
# zoo was rebuilt byte for byte on one fresh machine (session 12) and not on another, an
# AVX-512 Xeon (session 18). Pinned, it was rebuilt byte for byte on two AMD EPYCs (session 19,
# AVX2; session 20, AVX-512) but not on that Xeon (its pinned build is other bytes again):
# the pin does not make every x86 CPU agree; the hash check after a build says whether one did.
# Slower on a CPU with more than AVX2 or 2 cores: a one-time cost.
# shellcheck disable=SC2034  # used by the script that sources this file
pinned=(env MKL_CBWR=AVX2 ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2
        OMP_NUM_THREADS=2 MKL_NUM_THREADS=2)
