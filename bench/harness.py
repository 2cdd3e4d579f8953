"""A small benchmark harness: every figure is printed beside a baseline measured in the same run.

Absolute times depend on the machine and on what else it is doing; a ratio to a baseline measured
seconds earlier on the same machine (for loads: a raw COPY of the same rows) is what we compare.

    bench = Bench("synth load, 1,000,000 residents")
    bench.baseline("raw COPY of the same rows", lambda: copy_rows(...))
    bench.figure("kiban synth", lambda: load_city(...))
    bench.report()
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Measurement:
    name: str
    seconds: float
    baseline: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Bench:
    def __init__(self, title: str) -> None:
        self.title = title
        self.results: dict[str, Measurement] = {}
        self._last_baseline: str | None = None

    def _time(self, fn: Callable[[], Any]) -> tuple[float, Any]:
        start = time.perf_counter()
        value = fn()
        return time.perf_counter() - start, value

    def baseline(self, name: str, fn: Callable[[], Any], **extra: Any) -> Any:
        seconds, value = self._time(fn)
        self.results[name] = Measurement(name, seconds, None, extra)
        self._last_baseline = name
        self._print(self.results[name])
        return value

    def figure(self, name: str, fn: Callable[[], Any], *, baseline: str | None = None, **extra: Any) -> Any:
        seconds, value = self._time(fn)
        self.results[name] = Measurement(name, seconds, baseline or self._last_baseline, extra)
        self._print(self.results[name])
        return value

    def _print(self, m: Measurement) -> None:
        line = f"  {m.name:<48} {m.seconds:9.2f} s"
        if m.baseline:
            base = self.results[m.baseline].seconds
            line += f"   ×{m.seconds / base:6.2f} of '{m.baseline}' ({base:.2f} s)"
        if m.extra:
            line += "   " + ", ".join(f"{k}={v}" for k, v in m.extra.items())
        print(line, flush=True)

    def report(self, json_path: str | None = None) -> None:
        print(f"== {self.title} ==")
        for m in self.results.values():
            self._print(m)
        if json_path:
            data = {
                "title": self.title,
                "results": [
                    {
                        "name": m.name,
                        "seconds": round(m.seconds, 3),
                        "baseline": m.baseline,
                        "ratio": round(m.seconds / self.results[m.baseline].seconds, 3)
                        if m.baseline
                        else None,
                        **m.extra,
                    }
                    for m in self.results.values()
                ],
            }
            with open(json_path, "w", encoding="utf-8") as f:
                json.dump(data, f, ensure_ascii=False, indent=2)
            print(f"written {json_path}", file=sys.stderr)
