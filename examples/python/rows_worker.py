#!/usr/bin/env python3
"""A ward worker in Python that streams rows (the `ward` package of
bindings/python: `pip install bindings/python`). examples/python/
host_python.c starts it and calls it.

It serves "primes": params {"below": N}; one row {"p": prime} on the
stream "primes" for each prime below N, a progress report every 10000
numbers, and the reply {"count": how many}. ctx.row() waits while the
host's flow-control window is full, and raises ward.Cancelled once the
host has cancelled the call, which then ends with ERROR -7.
"""
import ward


@ward.method
def primes(ctx, params):
    below = int(params["below"])
    composite = bytearray(max(below, 2))
    count = 0
    for n in range(2, below):
        if not composite[n]:
            composite[n * n::n] = b"\x01" * len(range(n * n, below, n))
            count += 1
            ctx.row("primes", {"p": n})
        if n % 10000 == 0:
            ctx.progress({"done": n, "total": below})
    return {"count": count}


ward.run(meta={"version": "1.0"})
