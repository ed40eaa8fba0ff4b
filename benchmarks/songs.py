"""Shared by the benchmarks: a cache folder of synthetic songs, written once in parallel and reused by later runs."""
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path


def library(folder: Path, names: list, make_song, workers: int | None = None) -> list:
    "The songs `folder/name` for each of `names`, each written by `make_song(path, index)` unless already there."
    folder.mkdir(parents=True, exist_ok=True)
    paths = [str(folder / name) for name in names]
    todo = [(p, i) for i, p in enumerate(paths) if not os.path.exists(p)]
    if todo:
        print(f'writing {len(todo)} songs to {folder} (once) ...', flush=True)
        with ProcessPoolExecutor(workers or os.cpu_count()) as ex: list(ex.map(make_song, *zip(*todo)))
    return paths
