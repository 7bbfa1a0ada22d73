"""Case inputs keep their layout on the way to the worker: non-contiguous views and meta tensors."""

from __future__ import annotations

import os

import torch

from genlab.exercises import load_lab
from genlab.exercises._core import Call, encode, judge, on_meta
from genlab.exercises.drivers import _decode, drive_call
from genlab.grading import wire


def _through_the_wire(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    r, w = os.pipe()
    try:
        for k, t in tensors.items():
            wire.write_tensor(w, k, t)
        wire.write_frame(w, {"t": "end"})
        os.close(w)
        reader, out = wire.Reader(r), {}
        while True:
            header, t = reader.frame()
            if header["t"] == "end":
                return out
            out[header["key"]] = t
    finally:
        os.close(r)


def test_a_transposed_or_sliced_input_stays_non_contiguous_in_the_worker():
    for x in (torch.randn(2, 3, 5, 4).transpose(2, 3), torch.randn(4, 9)[:, ::3], torch.randn(6, 5).T):
        tensors: dict = {}
        spec = encode(x, "k", tensors)
        got = _decode(spec, _through_the_wire(tensors))
        assert not got.is_contiguous() and got.stride() == x.stride() and torch.equal(got, x)


def test_a_view_on_a_transposed_map_fails_as_in_the_check():
    item = load_lab("06").item("rows_to_sequences")
    case = next(c for c in item.cases if c.name == "held-noncontig")
    call = case.make(torch.Generator().manual_seed(1))
    tensors: dict = {}
    job = {"args": encode(list(call.args), "a", tensors), "kwargs": {}, "options": {}}
    inputs = _through_the_wire(tensors)
    wrong, _ = item.mistakes["noncontig: view of a transposed map"]
    try:
        drive_call(wrong, job, inputs, {})
    except RuntimeError as exc:
        assert "view" in str(exc)
    else:
        raise AssertionError("a .view on the transposed map ran in the worker's layout")
    right = lambda f: f.permute(0, 2, 3, 1).reshape(f.shape[0] * f.shape[2], f.shape[3], f.shape[1])  # noqa: E731
    assert judge(item, call, drive_call(right, job, inputs, {})) is None


def test_meta_inputs_travel_as_shape_and_dtype_and_outputs_are_judged_by_layout():
    item = load_lab("02").item("reparameterize")
    call = on_meta(lambda g: Call([torch.randn(6, 3, generator=g), torch.randn(6, 3, generator=g)]))(
        torch.Generator().manual_seed(0))
    tensors: dict = {}
    job = {"args": encode(list(call.args), "a", tensors), "kwargs": {}, "options": {}}
    assert tensors == {} and job["args"][0] == {"__meta__": {"shape": [6, 3], "dtype": "float32"}}
    ok = drive_call(lambda mu, lv: mu + (0.5 * lv).exp() * torch.randn_like(mu), job, tensors, {})
    assert judge(item, call, ok) is None
    wire_ok = _through_the_wire(ok)  # what the worker sends back is plain CPU tensors
    assert judge(item, call, wire_ok) is None
    try:
        drive_call(lambda mu, lv: mu + (0.5 * lv).exp() * torch.randn(mu.shape), job, tensors, {})
    except RuntimeError as exc:
        assert "input's device" in str(exc)
    else:
        raise AssertionError("noise made on the CPU passed a meta input")
    cpu_out = drive_call(lambda mu, lv: torch.zeros(mu.shape), job, tensors, {})
    assert "on the CPU" in judge(item, call, cpu_out)
