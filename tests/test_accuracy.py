"""Output comparison against the CPU reference: pure."""

import numpy as np

from npubench.harness.accuracy import compare


def ref(*arrays):
    return [(a.dtype.str, a.shape, a.tobytes()) for a in arrays]


def test_identical_outputs():
    a = np.array([[0.5, -1.0, 2.0]], np.float32)
    b = np.array([3, 0, 255], np.uint8)
    result = compare(ref(a, b), a.tobytes() + b.tobytes())
    assert result["max_abs_error"] == 0.0
    assert abs(result["cosine_similarity"] - 1.0) < 1e-12
    assert result["outputs"] == 2


def test_errors_are_measured():
    a = np.array([1.0, 0.0], np.float32)
    got = np.array([1.0, 0.5], np.float32)
    result = compare(ref(a), got.tobytes())
    assert result["max_abs_error"] == 0.5
    assert abs(result["cosine_similarity"] - 1 / np.sqrt(1.25)) < 1e-9


def test_all_zero_outputs_that_match():
    z = np.zeros(4, np.uint8)
    assert compare(ref(z), z.tobytes())["cosine_similarity"] == 1.0
    assert compare(ref(z), np.ones(4, np.uint8).tobytes())["cosine_similarity"] is None


def test_wrong_size_dump_is_a_reason_not_a_number():
    a = np.ones(3, np.float32)
    result = compare(ref(a), b"\0" * 5)
    assert result["max_abs_error"] is None
    assert "5 bytes" in result["missing_reason"]
