"""Helpers for tests/synth: a synthetic city generated in memory and split into rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from kiban.synth.city import CityParams, Counts, city_params
from kiban.synth.generate import generate_chunk


@dataclass
class City:
    params: CityParams
    counts: Counts
    copy: dict[str, list[list[str]]]  # table → rows (COPY text split on tabs; NULL is "\N")
    files: dict[str, list[list[str]]]  # file → rows without header (CSV split on commas)
    raw_copy: dict[str, bytes]
    raw_files: dict[str, bytes]


def build_city(seed: int, residents: int, as_of: date = date(2026, 4, 1)) -> City:
    params = city_params(seed, residents, as_of)
    counts = Counts()
    raw_copy: dict[str, list[bytes]] = {}
    raw_files: dict[str, list[bytes]] = {}
    for k in range(params.chunks):
        chunk = generate_chunk(params, k)
        counts.add(chunk.counts)
        for name, data in chunk.copy.items():
            raw_copy.setdefault(name, []).append(data)
        for name, data in chunk.files.items():
            raw_files.setdefault(name, []).append(data)
    joined_copy = {name: b"".join(parts) for name, parts in raw_copy.items()}
    joined_files = {name: b"".join(parts) for name, parts in raw_files.items()}
    return City(
        params=params,
        counts=counts,
        copy={n: [line.split("\t") for line in d.decode().splitlines()] for n, d in joined_copy.items()},
        files={
            n: [line.split(",") for line in d.decode().split("\r\n")[:-1]] for n, d in joined_files.items()
        },
        raw_copy=joined_copy,
        raw_files=joined_files,
    )
