"""What bench/torch/compare.py measures: the backends, the operations, sizes
("8", "64K", "1M") and the nccl-tests bus-bandwidth factor of each op."""

BACKENDS = ("baton", "gloo")
OPS = ("all_reduce", "broadcast", "all_gather", "send_recv")


def parse_size(text):
    text = text.strip()
    mult = 1
    for suffix, m in (("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30)):
        if text.upper().endswith(suffix):
            mult, text = m, text[:-1]
            break
    value = int(text) * mult
    if value <= 0:
        raise ValueError("sizes must be positive")
    return value


def size_label(n):
    for unit, m in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= m and n % m == 0:
            return f"{n // m} {unit}"
    return f"{n} B"


def bus_factor(op, n):
    if op.startswith("all_reduce"):
        return 2.0 * (n - 1) / n
    if op == "all_gather":
        return (n - 1) / n
    return 1.0


def point_elements(op, nbytes, n):
    """float32 elements per rank's tensor, and the bytes counted (nccl-tests)."""
    if op == "all_gather":
        count = max(1, nbytes // 4 // n)
        return count, count * 4 * n
    count = max(1, nbytes // 4)
    return count, count * 4
