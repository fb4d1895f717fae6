"""Inference precision: which autocast dtype runs where, and the CPU's fast-bf16 check.

``auto`` picks the fastest precision that keeps the decoded keypoints (measured by
``benchmarks/pose_throughput.py`` and ``tests/pose/test_precision.py``): bf16 on CUDA devices
that support it (else fp16); bf16 on x86 CPUs with AMX-BF16 or AVX512-BF16 instructions
(oneDNN runs bf16 matmuls and convolutions natively there); fp32 on every other CPU, where bf16
is emulated and slower than fp32. fp16 is a CUDA precision: on the CPU it runs fp32, as before
``auto`` existed (CPUs without AMX-FP16 have no fast fp16 path).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Literal

import torch

__all__ = [
    "DTYPES",
    "EffectivePrecision",
    "Precision",
    "autocast",
    "cpu_bf16_flags",
    "cpu_has_fast_bf16",
    "resolve_precision",
]

Precision = Literal["auto", "fp32", "fp16", "bf16"]
EffectivePrecision = Literal["fp32", "fp16", "bf16"]
DTYPES: dict[str, torch.dtype] = {
    "fp32": torch.float32,
    "fp16": torch.float16,
    "bf16": torch.bfloat16,
}
# cpuinfo's names (torch.cpu.get_capabilities) and the kernel's (/proc/cpuinfo "flags").
_FAST_BF16 = ("amx_bf16", "avx512_bf16")


def cpu_bf16_flags() -> tuple[str, ...]:
    """The CPU's native bf16 instruction sets among AMX-BF16 and AVX512-BF16 (may be empty).

    Read from ``torch.cpu.get_capabilities()`` (cpuinfo, PyTorch >= 2.8); on older PyTorch
    from the Linux kernel's ``/proc/cpuinfo`` flags.
    """
    get = getattr(torch.cpu, "get_capabilities", None)
    if get is not None:
        caps = get()
        return tuple(f for f in _FAST_BF16 if caps.get(f))
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ()
    flags = next(
        (ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), []
    )
    return tuple(f for f in _FAST_BF16 if f in flags)


def cpu_has_fast_bf16() -> bool:
    """True where oneDNN can run bf16 natively on this CPU (x86 AMX-BF16 or AVX512-BF16)."""
    return torch.backends.mkldnn.is_available() and bool(cpu_bf16_flags())


def resolve_precision(requested: Precision, device: torch.device) -> EffectivePrecision:
    """The precision that actually runs for ``requested`` on ``device`` (see the module doc).

    CUDA: ``auto`` -> bf16 where ``torch.cuda.is_bf16_supported()``, else fp16; the others as
    given. CPU: ``auto`` -> bf16 with fast bf16 (:func:`cpu_has_fast_bf16`), else fp32;
    ``fp16`` -> fp32; ``bf16`` and ``fp32`` as given. Other devices: ``auto`` -> fp32.
    """
    if requested not in ("auto", *DTYPES):
        raise ValueError(f"precision must be auto, fp32, fp16 or bf16, got {requested!r}")
    if device.type == "cuda":
        if requested == "auto":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return requested
    if device.type == "cpu":
        if requested == "auto":
            return "bf16" if cpu_has_fast_bf16() else "fp32"
        return "fp32" if requested == "fp16" else requested
    return "fp32" if requested == "auto" else requested


def autocast(device: torch.device, precision: EffectivePrecision) -> AbstractContextManager:
    """``torch.autocast`` to ``precision`` on ``device``; a no-op context for fp32."""
    if precision == "fp32":
        return nullcontext()
    return torch.autocast(device.type, dtype=DTYPES[precision])
