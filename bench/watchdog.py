"""``python -m bench.watchdog``: CPU per operation of the engine's deadline watchdog, against a Timer thread each.

What a host that sends a gRPC deadline with every call costs the plugin per operation, besides the work: the
engine arms a watchdog (to cancel a statement still running at the deadline) and disarms it when the statement
is done. Measured as CPU time of the whole process, so the Timer threads' own start-up counts.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time


class _Engine:
    def cancel(self, dbapi_conn: object) -> None:  # never reached: every deadline is 90 s out
        raise AssertionError("a watchdog fired")


def timer_per_op(ops: int) -> float:
    began = time.process_time()
    for _ in range(ops):
        timer = threading.Timer(90, lambda: None)
        timer.daemon = True
        timer.start()
        timer.cancel()
    return (time.process_time() - began) / ops


def watchdog_per_op(ops: int) -> float:
    from yamldb.engine.executor import _Watchdog

    engine = _Engine()
    began = time.process_time()
    for _ in range(ops):
        _Watchdog(None, engine, time.monotonic() + 90).disarm()  # type: ignore[arg-type]
    return (time.process_time() - began) / ops


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.watchdog", description=__doc__.split("\n\n")[0])
    p.add_argument("--ops", type=int, default=2000)
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args(argv)
    for _ in range(args.runs):
        old, new = timer_per_op(args.ops), watchdog_per_op(args.ops)
        print(f"Timer thread per operation {old * 1e6:7.1f} us   shared watchdog thread {new * 1e6:5.1f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
