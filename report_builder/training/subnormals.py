"""Subnormal floats flushed to zero on the CPU, in every thread that computes.

At learning rate 0.01, Adam's first moments of dead ReLU units decay by β1 every step until they are
subnormal (below 1.2e-38 in float32): after 2–5 epochs, half to two thirds of the first moments on one
host (issue 37). Intel processors take a slow path for such numbers (lr 0.01 epochs grew from 0.9 to 1.7 s
while the baseline's stayed at 0.7 s on one host); AMD EPYC did not (0.99×). Either way a slowdown that
belongs to the processor must not reach a report as a property of the learning rate. Flushing changes nothing a report prints: a moment
under 1e-38 moves a weight by less than float32 can represent next to it (tests/test_subnormals.py).

torch.set_flush_denormal sets the mode (MXCSR on x86) of the calling thread only. Threads created later
inherit it; OpenMP threads that already exist do not (measured: half of a product split over two threads
stayed subnormal). So flush() also sets it in each of them, through one parallel region of the OpenMP
runtime torch loaded (found in /proc/self/maps), and then checks every thread.
"""

from __future__ import annotations

import ctypes
import functools

import torch

_GRAIN = 32768
"""torch's elementwise grain (at::internal::GRAIN_SIZE): a tensor of 2 × this per thread reaches every thread."""
_RUNTIMES = ("libgomp", "libiomp5", "libomp")


@functools.lru_cache(maxsize=None)
def _openmp_runtimes() -> tuple[ctypes.CDLL, ...]:
    """The OpenMP runtimes this process loaded that offer GOMP_parallel (torch's among them, where it uses
    OpenMP); none where /proc is not there to say."""
    try:
        with open("/proc/self/maps", encoding="ascii", errors="replace") as f:
            paths = [line.split()[-1] for line in f if any(name in line for name in _RUNTIMES)]
    except OSError:
        return ()
    found = []
    for path in dict.fromkeys(paths):
        try:
            runtime = ctypes.CDLL(path)
            runtime.GOMP_parallel.argtypes = [_PARALLEL_BODY, ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint]
        except (OSError, AttributeError):
            continue
        found.append(runtime)
    return tuple(found)


_PARALLEL_BODY = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


def _in_every_openmp_thread(runtime: ctypes.CDLL, action) -> None:
    """Run `action()` once in each thread of the runtime's team of torch's size."""
    body = _PARALLEL_BODY(lambda _: action())
    runtime.GOMP_parallel(body, None, torch.get_num_threads(), 0)


def flushed() -> bool:
    """Whether every thread of torch's team flushes subnormal results to zero now (a product that would
    be subnormal, in a tensor big enough to reach every thread, comes out zero)."""
    smallest = torch.finfo(torch.float32).tiny
    x = torch.full((2 * _GRAIN * torch.get_num_threads(),), smallest)
    return not bool(torch.mul(x, 0.5).ne(0).any())


def flush(on: bool = True) -> bool:
    """Flush subnormal floats to zero (on) or keep them (off) in this thread and in torch's CPU threads;
    whether every thread now does as asked (False where the processor cannot flush)."""
    if not torch.set_flush_denormal(on):
        return False
    # Another library may have loaded an OpenMP runtime of its own: the one whose threads torch uses is
    # the one after which every thread does as asked.
    for runtime in _openmp_runtimes():
        if flushed() == on:
            break
        _in_every_openmp_thread(runtime, lambda: torch.set_flush_denormal(on))
    return flushed() == on
