"""The FAISS peer of `make bench-match`: IndexFlatIP over the same descriptors and queries the Rust
benchmark wrote, with the same threads. Prints one JSON line of timings.

Usage: faiss_peer.py BASE QUERIES DIM K THREADS
"""
import json
import sys
import time

import faiss
import numpy as np


def main() -> None:
    base_path, queries_path, dim, k, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    faiss.omp_set_num_threads(threads)
    base = np.fromfile(base_path, dtype=np.float32).reshape(-1, dim)
    queries = np.fromfile(queries_path, dtype=np.float32).reshape(-1, dim)
    index = faiss.IndexFlatIP(dim)
    index.add(base)
    index.search(queries[:1], k)  # warm-up

    started = time.perf_counter()
    single = [index.search(queries[i : i + 1], k) for i in range(len(queries))]
    single_s = time.perf_counter() - started

    started = time.perf_counter()
    _, batch_ids = index.search(queries, k)
    batch_s = time.perf_counter() - started

    print(json.dumps({
        "single_query_ms": 1000.0 * single_s / len(queries),
        "batch_query_ms": 1000.0 * batch_s / len(queries),
        "top1": [int(ids[0][0]) for _, ids in single],
        "batch_top1": [int(row[0]) for row in batch_ids],
    }))


if __name__ == "__main__":
    main()
