"""Exercise entries of lab 07: the contract, cases, probes and mistakes of each graded item.

Grading spec of lab 07 (GPU training): autocast_settings, train_epoch, save/load_checkpoint.

Everything is graded by behaviour on the CPU (scenarios defined below and in :mod:`genlab.exercises.scenarios`):

- ``autocast_settings``: the (enabled, dtype, use_scaler) triple for CUDA with and
  without bf16, CPU, MPS, given as strings and as ``torch.device``; a scaler only
  with float16.
- ``train_epoch``: starting from eval mode, on batches of unequal sizes, with and
  without autocast and with a spy loss scaler: the weights after the epoch must
  equal the reference's, the returned loss is the mean per image, the forward
  pass runs in bf16 under ``amp`` and in fp32 without, the scaler is used.
- ``save_checkpoint``: a crash in the middle of the write leaves the previous file
  intact and no partial file; the file holds the model, optimiser, scaler (None
  without one), epoch and RNG state; 2 epochs + save + load (reference) + 2
  epochs equal 4 epochs exactly.
- ``load_checkpoint``: the same exact resume from a reference file, the epoch
  returned, a scaler's scale restored, a file without a scaler accepted.

The student check's probes:

Checks for lab 07 (GPU training): a device-agnostic AMP loop with checkpoint and resume.

Everything is checked by behaviour on the CPU, which is what a GPU run would do too:

* ``autocast_settings(device, bf16_supported=None) -> (enabled, dtype, use_scaler)``:
  bf16 where supported (no scaler), fp16 + GradScaler on CUDA without bf16;
* ``train_epoch(model, batches, optimizer, scaler, device, amp) -> float``: moves the
  model and every batch to ``device``, autocasts the forward pass when ``amp``, uses the
  scaler when one is given, and returns the epoch's mean loss;
* ``save_checkpoint(path, model, optimizer, scaler, epoch)``: atomic, readable with
  ``torch.load(weights_only=True)``, holding what an exact resume needs;
* ``load_checkpoint(path, model, optimizer, scaler) -> epoch``: the inverse, with
  ``weights_only=True``.

The resume test is the one that matters: 2 epochs, save, a fresh model and optimiser in a
scrambled RNG state, load, 2 more epochs must equal 4 uninterrupted epochs exactly.

Developed in course/07_gpu_training (lab 07).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from ..train.loop import autocast_settings as _lib_autocast_settings
from ._core import Case, Item, Mistakes, build_lab
from ._scenarios07 import (
    _cpu_map_location,
    _Crash,
    _io_load_observations,
    _io_save_observations,
    _IOSpy,
    accumulate_scenario,
    write_half_checkpoint,
)
from ._student import call, fail
from .challenges import Challenge
from .scenarios import (
    scenario_case,
    scenario_check,
)

CHECKPOINT_KEYS = ("model", "optimizer", "scaler", "epoch", "rng")


# ----------------------------------------------------------------------------------------------
# References (what the solution does; the checks compare with these)
# ----------------------------------------------------------------------------------------------

# --------------------------------------------------------------------------- references and scenarios
# The one reference implementation of each lab-only function, and the behaviour scenarios
# (genlab.exercises.scenarios) that exercise a submission of it.

def autocast_settings(device: Any, bf16_supported: bool | None = None) -> tuple[bool, torch.dtype, bool]:
    """The library's :func:`genlab.train.autocast_settings`, the one copy of this contract.

    A function object of its own, so that the grading sandbox can make this reference
    unavailable without disabling the library's (``genlab.train.fit`` runs in lab 07's
    notebook); ``__wrapped__`` lets ``genlab build --check`` compare the solution cell
    marked ``Same as genlab.exercises.lab07.autocast_settings`` with the library's code.
    """
    return _lib_autocast_settings(device, bf16_supported)


autocast_settings.__wrapped__ = _lib_autocast_settings  # type: ignore[attr-defined]


def train_epoch(model, batches, optimizer, scaler, device, amp):
    device = torch.device(device)
    model.to(device)
    model.train()
    _, dtype, _ = autocast_settings(device)
    total, count = 0.0, 0
    for x, y in batches:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=dtype, enabled=amp):
            logits = model(x)
        loss = F.cross_entropy(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        total += loss.item() * len(x)
        count += len(x)
    return total / count


def save_checkpoint(path, model, optimizer, scaler, epoch):
    path = Path(path)
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "scaler": scaler.state_dict() if scaler is not None else None,
             "epoch": int(epoch), "rng": {"torch": torch.get_rng_state()}}
    tmp = path.with_name(path.name + ".tmp")
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def load_checkpoint(path, model, optimizer, scaler):
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    if state.get("optimizer"):
        optimizer.load_state_dict(state["optimizer"])
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    rng = state.get("rng") or {}
    if isinstance(rng, dict) and "torch" in rng:
        torch.set_rng_state(rng["torch"])
    return int(state["epoch"])














# --------------------------------------------------------------------------- I/O spies (check and grader)
# The I/O properties are observed by patching the calls a save or a load goes through: where
# torch.save writes, whether a rename puts the file in place, what torch.load is asked for,
# and what a crash at each step leaves on disk.



















# --------------------------------------------------------------------------- stretch: gradient accumulation

def train_epoch_accumulate(model, batches, optimizer, accum_steps, device):
    device = torch.device(device)
    model.to(device)
    model.train()
    batches = list(batches)
    total, count = 0.0, 0
    for start in range(0, len(batches), accum_steps):
        group = batches[start:start + accum_steps]
        n = sum(len(y) for _, y in group)
        optimizer.zero_grad(set_to_none=True)
        for x, y in group:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss = F.cross_entropy(model(x), y)
            (loss * (len(y) / n)).backward()  # each image weighs the same in the group's mean
            total += loss.item() * len(y)
            count += len(y)
        optimizer.step()
    return total / count






def _diagnose_train_epoch_accumulate(fn: Callable[..., Any]) -> str | None:
    """Runs at all, returns a number, and matches the big-batch step (the public cases judge the rest)."""
    name = "train_epoch_accumulate"
    got = accumulate_scenario(lambda *a: call(name, fn, *a), [5, 2, [4, 4, 4, 2, 3]])
    if float(got["steps"]) != 3:
        fail(name, "3 optimiser steps for 5 micro-batches in groups of 2", f"{int(got['steps'])} steps",
             "with too many steps the run is just small-batch training (noisier, another learning rate); "
             "with too few the last images of the epoch are never learnt from.")
    if float(got["big_batch_max_abs_diff"]) > 1e-5:
        fail(name, "the same weights as one step per group on the group's images joined",
             f"max weight difference {float(got['big_batch_max_abs_diff']):.3g}",
             "the accumulated gradient is too large, too small, or weighs the images of a smaller "
             "micro-batch differently from the others: the accumulation run does not train like the big batch.")
    return None




autocast_settings = autocast_settings
train_epoch = train_epoch
save_checkpoint = save_checkpoint
train_epoch_accumulate = train_epoch_accumulate
load_checkpoint = load_checkpoint  # tolerant: restores whatever the file holds (the save check judges the rest)


# ----------------------------------------------------------------------------------------------
# Fixtures of the checks
# ----------------------------------------------------------------------------------------------

class _Net(nn.Module):
    """A tiny classifier with dropout (so the RNG state matters) that records its forward passes."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        g = torch.random.fork_rng()
        with g:
            torch.manual_seed(seed)
            self.body = nn.Sequential(nn.Flatten(), nn.Linear(16, 12), nn.ReLU(), nn.Dropout(0.3),
                                      nn.Linear(12, 3))
        self.autocast_seen: list[tuple[bool, torch.dtype]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.autocast_seen.append((torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")))
        return self.body(x)


def _data(n: int = 48) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(7)
    return torch.rand(n, 1, 4, 4, generator=g), torch.randint(0, 3, (n,), generator=g)


def _batches(x: torch.Tensor, y: torch.Tensor, batch_size: int = 12):
    """Shuffled with torch's global RNG, as a DataLoader without a generator does."""
    from ..data import batches

    return batches(x, y, batch_size, shuffle=True, generator=None)


class _RecordMoves(TorchFunctionMode):
    """Records every tensor that had ``.to(...)`` called on it (by id)."""

    def __init__(self) -> None:
        super().__init__()
        self.moved: set[int] = set()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in (torch.Tensor.to, torch.Tensor.cuda) and args:
            self.moved.add(id(args[0]))
        return func(*args, **(kwargs or {}))


class _RecordBatches:
    """Batches whose tensors we can recognise afterwards."""

    def __init__(self, pairs: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        self.pairs = pairs

    def __iter__(self):
        return iter(self.pairs)

    def __len__(self) -> int:
        return len(self.pairs)


def _same_weights(a: nn.Module, b: nn.Module) -> float:
    """Max abs difference of two modules' parameters."""
    return max(float((p.detach() - q.detach()).abs().max())
               for p, q in zip(a.parameters(), b.parameters(), strict=True))


# ----------------------------------------------------------------------------------------------
# autocast_settings
# ----------------------------------------------------------------------------------------------

def _diagnose_autocast_settings(fn: Callable[..., Any]) -> str | None:
    """(enabled, dtype, use_scaler) for CPU, CUDA with and without bf16, and MPS."""
    name = "autocast_settings"
    cases = [
        ("cpu", None, "the CPU autocasts to bfloat16"),
        ("cuda", True, "a GPU with bf16 (Ampere or newer: A100, H100, RTX 30xx/40xx)"),
        ("cuda", False, "a GPU without bf16 (T4, V100: Colab's free GPU)"),
        ("mps", None, "Apple's MPS autocasts to float16, and GradScaler does not run there"),
    ]
    for dev, bf16, what in cases:
        want = autocast_settings(torch.device(dev), bf16)
        got = call(name, fn, torch.device(dev), bf16) if bf16 is not None else call(name, fn, torch.device(dev))
        if not isinstance(got, tuple) or len(got) != 3:
            fail(name, "a tuple (enabled, dtype, use_scaler)", repr(got))
        enabled, dtype, use_scaler = got
        if dtype != want[1]:
            hint = ("float16 needs a GradScaler and has a small exponent range; prefer bfloat16 where "
                    "the hardware has it" if dtype == torch.float16 else
                    "without bf16 support the GPU autocasts to float16")
            fail(name, f"dtype {want[1]} for {dev} ({what})", f"dtype {dtype}", hint)
        if bool(use_scaler) != want[2]:
            if want[2]:
                fail(name, f"a scaler for {dev} in float16 ({what})", "no scaler",
                     "fp16's smallest normal number is ~6e-5: small gradients underflow to 0 unless the "
                     "loss is scaled up first (GradScaler).")
            fail(name, f"no scaler for {dev} with {dtype} ({what})", "a scaler",
                 "bfloat16 has float32's 8 exponent bits, so gradients do not underflow: no scaler needed"
                 if dtype == torch.bfloat16 else "GradScaler runs on CUDA only; MPS trains fp16 unscaled.")
        if enabled is not True:
            fail(name, f"autocast enabled for {dev}", f"enabled={enabled!r}", "every device here can autocast.")
    got = call(name, fn, "cpu")
    if tuple(got) != autocast_settings("cpu"):
        fail(name, "the same answer for the device name 'cpu' as for the CPU device object", repr(got),
             "turn the argument into a device object first, whichever form it came in.")
    return None


# ----------------------------------------------------------------------------------------------
# train_epoch
# ----------------------------------------------------------------------------------------------

def _run_epoch(fn: Callable[..., Any], *, amp: bool, scaler: Any = None, eval_first: bool = False,
               sgd: bool = False) -> tuple[Any, _Net, Any, _RecordMoves, list]:
    x, y = _data(45)  # 12, 12, 12 and a last batch of 9: the mean per image needs the sizes
    pairs = [(x[i:i + 12].clone(), y[i:i + 12].clone()) for i in range(0, len(x), 12)]
    model = _Net()
    if eval_first:
        model.eval()
    opt = (torch.optim.SGD(model.parameters(), lr=0.5) if sgd else
           torch.optim.Adam(model.parameters(), lr=1e-2))
    mode = _RecordMoves()
    with torch.random.fork_rng():
        torch.manual_seed(3)
        with mode:
            out = fn(model, _RecordBatches(pairs), opt, scaler, torch.device("cpu"), amp)
    return out, model, scaler, mode, pairs


def _diagnose_train_epoch(fn: Callable[..., Any]) -> str | None:
    """Same weights and mean loss as the reference; device moves, autocast and scaler used right."""
    name = "train_epoch"
    want, ref_model, _, _, _ = _run_epoch(train_epoch, amp=False)
    got, model, _, mode, pairs = _run_epoch(lambda *a: call(name, fn, *a), amp=False, eval_first=True)
    x, y = _data(45)
    if not all(torch.equal(xb, x[i * 12:(i + 1) * 12]) and torch.equal(yb, y[i * 12:(i + 1) * 12])
               for i, (xb, yb) in enumerate(pairs)):
        fail(name, "the batches left as they were given", "a batch was changed in place",
             "the next epoch (and any evaluation on the same tensors) would see altered data.")
    if not any(id(p) in mode.moved for p in model.parameters()):
        fail(name, "the model moved to the device at the start of the epoch", "the model was never moved",
             "on a GPU the weights would stay on the CPU and the first forward pass would fail "
             "with 'Expected all tensors to be on the same device'.")
    unmoved = [i for i, (xb, yb) in enumerate(pairs) if id(xb) not in mode.moved or id(yb) not in mode.moved]
    if unmoved:
        fail(name, "every batch's x and y moved to the device",
             f"batch {unmoved[0]} (and {len(unmoved) - 1} more) not moved",
             "move both the images and the labels, inside the loop.")
    if not model.training:
        fail(name, "the model in training mode after the epoch", "model.training is False",
             "put the model in training mode first: dropout and batch norm behave differently in evaluation mode.")
    if not isinstance(got, (float, int)) and not (isinstance(got, torch.Tensor) and got.numel() == 1):
        fail(name, "the epoch's mean loss as a Python float", type(got).__name__, "return total / count")
    if isinstance(got, torch.Tensor) and got.requires_grad:
        fail(name, "a plain number", "a tensor that still holds the graph",
             "add up the loss as a Python number: keeping graphs alive across steps leaks memory (and syncs anyway)")
    if any(seen[0] for seen in model.autocast_seen):
        fail(name, "no autocast when amp is off", "autocast was on", "let the amp flag switch autocast on and off.")
    diff = _same_weights(model, ref_model)
    if diff > 1e-5:
        fail(name, "the same weights as the reference after one epoch", f"max weight difference {diff:.3g}",
             "per batch: clear the gradients, back-propagate the cross-entropy of the model's logits, take one optimiser step.")
    if abs(float(got) - want) > 1e-4 * max(1.0, abs(want)):
        fail(name, f"mean loss {want:.5f}", f"{float(got):.5f}",
             "the last batch here is smaller (9 images, the others 12): the mean per image is not the mean "
             "of the batch means.")

    # AMP on: the forward pass must run under bf16 autocast on the CPU, and off when amp=False.
    got_amp, model_amp, _, _, _ = _run_epoch(lambda *a: call(name, fn, *a), amp=True)
    if not model_amp.autocast_seen or not all(on and dt == torch.bfloat16 for on, dt in model_amp.autocast_seen):
        fail(name, "forward passes under CPU autocast in bfloat16 when amp is on",
             f"autocast (enabled, dtype) seen in forward: {model_amp.autocast_seen[:1]}",
             "wrap only the forward pass in autocast, for the device's type and the chosen dtype, switched by amp")
    want_amp, ref_amp, _, _, _ = _run_epoch(train_epoch, amp=True)
    if _same_weights(model_amp, ref_amp) > 1e-3:
        fail(name, "bf16 training close to the reference", f"max weight difference "
             f"{_same_weights(model_amp, ref_amp):.3g}", "keep the backward pass outside autocast.")

    # A scaler given: it must scale the loss, step through the scaler and update its scale.
    def make_scaler():
        return torch.amp.GradScaler("cpu", init_scale=2.0**4, growth_interval=1)

    _, ref_s_model, ref_scaler, _, _ = _run_epoch(train_epoch, amp=False, scaler=make_scaler(), sgd=True)
    _, s_model, scaler, _, _ = _run_epoch(lambda *a: call(name, fn, *a), amp=False, scaler=make_scaler(),
                                          sgd=True)
    if scaler.get_scale() != ref_scaler.get_scale():
        fail(name, f"the scaler's scale to grow to {ref_scaler.get_scale():g} (update() after every step)",
             f"scale {scaler.get_scale():g}",
             "with a scaler: back-propagate the scaled loss, let the scaler take the step, then update the scaler.")
    diff = _same_weights(s_model, ref_s_model)
    if diff > 1e-5:
        fail(name, "the same weights with a scaler as without (the scale is divided out before the step)",
             f"max weight difference {diff:.3g}",
             "let the scaler take the step, not the optimiser directly: the scaler unscales the gradients first.")
    return None


# ----------------------------------------------------------------------------------------------
# save_checkpoint / load_checkpoint: exact resume
# ----------------------------------------------------------------------------------------------

def _resume_run(save: Callable[..., Any], load: Callable[..., Any], folder: Path) -> dict[str, Any]:
    """4 straight epochs vs 2 + save + fresh everything + load + 2; returns both end states."""
    x, y = _data()

    def make_scaler():
        return torch.amp.GradScaler("cpu", init_scale=2.0**6, growth_interval=3)

    with torch.random.fork_rng():
        torch.manual_seed(11)
        straight, scaler_a = _Net(), make_scaler()
        opt = torch.optim.Adam(straight.parameters(), lr=1e-2)
        for _ in range(4):
            train_epoch(straight, _batches(x, y), opt, scaler_a, "cpu", False)

        torch.manual_seed(11)
        first, scaler_b = _Net(), make_scaler()
        opt = torch.optim.Adam(first.parameters(), lr=1e-2)
        for _ in range(2):
            train_epoch(first, _batches(x, y), opt, scaler_b, "cpu", False)
        path = folder / "ckpt.pt"
        save(path, first, opt, scaler_b, 2)

        torch.manual_seed(999)  # a new session: other weights, other RNG state, fresh optimiser and scaler
        resumed, scaler_c = _Net(seed=5), make_scaler()
        opt = torch.optim.Adam(resumed.parameters(), lr=1e-2)
        epoch = load(path, resumed, opt, scaler_c)
        for _ in range(int(epoch) if isinstance(epoch, int) else 2, 4):
            train_epoch(resumed, _batches(x, y), opt, scaler_c, "cpu", False)
    return {"epoch": epoch, "diff": _same_weights(straight, resumed),
            "scale": (scaler_a.get_scale(), scaler_c.get_scale()), "path": path}


def _resume_failure(name: str, run: dict[str, Any], state: dict | None) -> None:
    if run["diff"] == 0.0 and run["scale"][0] == run["scale"][1]:
        return
    missing = [k for k in ("optimizer", "rng") if state is not None and not state.get(k)]
    hint = {
        "optimizer": "save the optimiser's state: Adam's moment estimates are part of the training state.",
        "rng": "save the random generator's state (and restore it): the shuffle order and dropout masks after "
               "the resume must be the ones an uninterrupted run would draw.",
    }
    if run["diff"] != 0.0:
        fail(name, "2 epochs + save + load + 2 epochs == 4 uninterrupted epochs, exactly",
             f"max weight difference {run['diff']:.3g}",
             hint[missing[0]] if missing else "restore the model, the optimiser and the torch RNG state.")
    fail(name, f"the GradScaler's scale restored ({run['scale'][0]:g} after 4 epochs)",
         f"{run['scale'][1]:g}", "save the scaler's state (None without a scaler) and load it back.")


@contextlib.contextmanager
def _checkpoint_probe() -> Iterator[tuple[Path, _Net, torch.optim.Optimizer]]:
    """A scratch folder, a fresh ``_Net`` and its Adam optimiser (lr 1e-2): where a checkpoint probe runs."""
    with tempfile.TemporaryDirectory() as tmp:
        model = _Net()
        yield Path(tmp), model, torch.optim.Adam(model.parameters(), lr=1e-2)


def _diagnose_save_checkpoint(fn: Callable[..., Any]) -> str | None:
    """Readable with weights_only=True, the agreed keys, atomic, and enough for an exact resume."""
    name = "save_checkpoint"
    with _checkpoint_probe() as (folder, model, opt):
        path = folder / "first.pt"
        call(name, fn, path, model, opt, None, 3)
        if not path.is_file():
            fail(name, f"a file at {path.name}", f"files: {sorted(p.name for p in folder.iterdir())}",
                 "save to exactly the path you are given (rename the temporary file onto it).")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            fail(name, "a file the safe weights-only loader can read",
                 f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}",
                 "save state_dicts, tensors and plain numbers, not the model or optimizer objects.")
        if not isinstance(state, dict) or not all(k in state for k in CHECKPOINT_KEYS):
            got = sorted(state) if isinstance(state, dict) else type(state).__name__
            fail(name, f"a dict with keys {list(CHECKPOINT_KEYS)}", f"{got}",
                 "the lab's load_checkpoint and the checks read these names.")
        if state["epoch"] != 3:
            fail(name, "epoch 3 stored as given", repr(state["epoch"]))
        leftovers = [p.name for p in folder.iterdir() if p.name != "first.pt"]
        if leftovers:
            fail(name, "only the checkpoint in the folder", f"also {leftovers}",
                 'rename the temporary file onto the target (a rename that replaces it).')

        # A crash in the middle of writing must leave the previous checkpoint intact.
        real_save = torch.save

        def crashing_save(obj, f, *args, **kwargs):
            write_half_checkpoint(f)
            raise _Crash("disk full (simulated by the check)")

        torch.save = crashing_save
        try:
            try:
                fn(path, model, opt, None, 4)
            except _Crash:
                pass
            except Exception as exc:
                if not isinstance(exc.__cause__ or exc.__context__, _Crash):
                    raise
        finally:
            torch.save = real_save
        try:
            again = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:
            fail(name, "the previous checkpoint intact after a crash during the save",
                 "a half-written, unreadable file at the checkpoint path",
                 "write to a temporary file in the same folder, then rename it over the target: "
                 "a rename is atomic, a write is not.")
        if again.get("epoch") != 3:
            fail(name, "the previous checkpoint (epoch 3) intact after a crash during the save",
                 f"epoch {again.get('epoch')!r}", "only rename once the write has finished.")
        leftovers = [p.name for p in folder.iterdir() if p.name != "first.pt"]
        if leftovers:
            fail(name, "no partial file left behind by a failed save", f"{leftovers}",
                 "wrap the write in try/finally and delete the temporary file if it still exists.")

        _diagnose_save_io(name, fn, folder, model, opt)
        run = _resume_run(lambda *a: call(name, fn, *a), load_checkpoint, folder)
        state = torch.load(run["path"], map_location="cpu", weights_only=True)
        _resume_failure(name, run, state)
    return "exact resume: 2 + 2 epochs == 4 epochs"


#: What the student sees when an I/O property of the save fails (symptom first, no code).
_SAVE_IO_MESSAGES = {
    "temp_in_same_folder": (
        "the temporary file written in the same folder as the checkpoint",
        "torch.save wrote somewhere else (or straight onto the checkpoint path)",
        "a rename is atomic only inside one file system; the system's temporary folder is often another "
        "disk, and then the 'rename' becomes a copy that a crash can cut in half."),
    "renamed_into_place": (
        "the finished temporary file renamed onto the checkpoint path",
        "the checkpoint appeared without a rename onto it (a copy?)",
        "a copy writes the target byte by byte: a crash half-way leaves a truncated checkpoint."),
    "intact_after_replace_crash": (
        "the previous checkpoint intact when the job dies just before the rename",
        "the checkpoint path was empty or unreadable afterwards",
        "the job was killed between the write and the rename: whatever was deleted before the rename is "
        "lost, and the run cannot resume at all."),
    "clean_after_replace_crash": (
        "no temporary file left when the rename fails",
        "a leftover file next to the checkpoint",
        "every failed save leaves another copy of the model on disk until the quota is full; the clean-up "
        "must cover every step after the temporary file exists, not only the write."),
    "intact_after_save_crash": (
        "the previous checkpoint intact after a crash during the write",
        "a half-written or missing checkpoint",
        "a rename is atomic, a write is not."),
    "clean_after_save_crash": (
        "no partial file left behind by a failed write", "a leftover partial file",
        "clean up the temporary file whatever step fails."),
}


def _diagnose_save_io(name: str, fn: Callable[..., Any], folder: Path, model: nn.Module, opt: Any) -> None:
    obs = _io_save_observations(lambda *a: call(name, fn, *a), folder, model, opt,
                                lambda p: save_checkpoint(p, model, opt, None, 1))
    for key, (expected, got, hint) in _SAVE_IO_MESSAGES.items():
        if not obs[key]:
            fail(name, expected, got, hint)


def _diagnose_load_checkpoint(fn: Callable[..., Any]) -> str | None:
    """weights_only=True, returns the epoch, restores model/optimiser/scaler/RNG: exact resume."""
    name = "load_checkpoint"
    with _checkpoint_probe() as (folder, model, opt):
        path = folder / "c.pt"
        save_checkpoint(path, model, opt, None, 5)

        with _IOSpy() as spy:
            other = _Net(seed=4)
            epoch = call(name, fn, path, other, torch.optim.Adam(other.parameters(), lr=1e-2), None)
        if not spy.loads:
            fail(name, "the file read with torch's safe loader", "the checkpoint was never read with the tensor loader")
        if spy.unsafe_loads():
            fail(name, "every read of the file with the safe weights-only loader",
                 f"{spy.unsafe_loads()} call(s) without it",
                 "the unsafe (full-pickle) loader rebuilds arbitrary objects: a checkpoint someone sent you can run any "
                 "code its author chose, with your permissions.")
        if not all(_cpu_map_location(k) for k in spy.loads):
            fail(name, "the file's tensors mapped onto the CPU while loading",
                 f"map_location={spy.loads[0].get('map_location')!r}",
                 "a checkpoint saved on a GPU then fails to load on a machine without one (or fills GPU 0 "
                 "before the weights are copied where they belong).")
        obs = _io_load_observations(lambda *a: call(name, fn, *a), folder, _Net(seed=6),
                                    torch.optim.Adam(_Net(seed=6).parameters(), lr=1e-2), save_checkpoint)
        if not obs["unsafe_file_refused"]:
            fail(name, "a file the safe loader refuses to stay refused (an error, nothing run)",
                 "code stored in the file ran: the loader fell back to unpickling it",
                 "a fallback to the unsafe full-pickle loader when the safe load fails is exactly the "
                 "door an attacker's file needs: let the error reach the caller.")
        if epoch != 5 or not isinstance(epoch, int):
            fail(name, "the stored epoch 5 as an int", repr(epoch), "return int(state['epoch']).")
        if _same_weights(model, other) != 0.0:
            fail(name, "the model's weights restored", f"max difference {_same_weights(model, other):.3g}",
                 "restore the model's weights from the file's model entry.")

        run = _resume_run(save_checkpoint, lambda *a: call(name, fn, *a), folder)
        state = torch.load(run["path"], map_location="cpu", weights_only=True)
        if run["diff"] != 0.0:
            fail(name, "2 epochs + save + load + 2 epochs == 4 uninterrupted epochs, exactly",
                 f"max weight difference {run['diff']:.3g}",
                 "restore the optimiser's state and the random generator's state that the "
                 "file holds.")
        _resume_failure(name, run, state)
    return "exact resume: 2 + 2 epochs == 4 epochs"


# --------------------------------------------------------------------------- named mistakes
# Wrong implementations students write. Each maps to the pattern (a regular expression
# searched in the message) its student check must fail with; the grader must give it less
# than full marks (tests/unit/test_mistakes.py). Helpers are prefixed _m*_ by origin.

def _mc_fp16_everywhere_on_cuda(device, bf16_supported=None):
    device = torch.device(device)
    return (True, torch.float16, True) if device.type == 'cuda' else autocast_settings(device)


def _mc_scaler_with_bf16(device, bf16_supported=None):
    enabled, dtype, _ = autocast_settings(device, bf16_supported)
    return (enabled, dtype, torch.device(device).type == 'cuda')


def _mc_fp16_on_cpu(device, bf16_supported=None):
    return (True, torch.float16, False) if torch.device(device).type == 'cpu' else autocast_settings(device, bf16_supported)


def _mc_no_scaler_ever(device, bf16_supported=None):
    enabled, dtype, _ = autocast_settings(device, bf16_supported)
    return (enabled, dtype, False)


def _ms_autocast_fp16_everywhere(device, bf16_supported=None):
    return (True, torch.float16, torch.device(device).type == 'cuda')


def _ms_autocast_strings_only(device, bf16_supported=None):
    if device == 'cuda':
        return autocast_settings('cuda', bf16_supported)
    return autocast_settings('cpu' if device == 'cpu' else 'mps')


def _ms_epoch(model, batches, optimizer, scaler, device, amp, *, mean_of_means=False, no_train=False, ignore_scaler=False, scaler_no_step=False, ignore_amp=False):
    model.to(device)
    if not no_train:
        model.train()
    losses, sizes = ([], [])
    for x, y in batches:
        x, y = x.to(device), y.to(device)
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bool(amp) and (not ignore_amp)):
            loss = F.cross_entropy(model(x).float(), y)
        optimizer.zero_grad()
        if scaler is None or ignore_scaler:
            loss.backward()
            optimizer.step()
        else:
            scaler.scale(loss).backward()
            if scaler_no_step:
                optimizer.step()
            else:
                scaler.step(optimizer)
            scaler.update()
        losses.append(loss.item())
        sizes.append(len(y))
    if mean_of_means:
        return sum(losses) / len(losses)
    return sum((a * n for a, n in zip(losses, sizes, strict=True))) / sum(sizes)


# save_checkpoint as students write it, built from its four steps: what goes in the file
# (state), where the temporary file goes (tmp; None writes the target directly), how it
# takes the target's place (place) and when the temporary file is cleaned up (cleanup:
# "always", "write" = only when the write fails, "never"). Each mistake changes one step.

def _full_state(model, optimizer, scaler, epoch):
    return {'model': model.state_dict(), 'optimizer': optimizer.state_dict(),
            'scaler': None if scaler is None else scaler.state_dict(), 'epoch': epoch,
            'rng': {'torch': torch.get_rng_state()}}


def _state_with(**changed):
    """The full state with some entries replaced (``rng=None``: the RNG state left out)."""
    return lambda *a: {**_full_state(*a), **changed}


def _objects_state(model, optimizer, scaler, epoch):
    return {'model': model, 'optimizer': optimizer, 'scaler': scaler, 'epoch': epoch, 'rng': None}


def _other_keys_state(model, optimizer, scaler, epoch):  # noqa: ARG001
    return {'weights': model.state_dict(), 'epoch': epoch}


def _tmp_beside(path):
    return str(path) + '.tmp'


def _tmp_in_system_folder(path):  # noqa: ARG001 - the system's temporary folder, maybe another disk
    fd, tmp = tempfile.mkstemp(suffix='.pt')
    os.close(fd)
    return tmp


def _mkstemp_beside(path):
    fd, tmp = tempfile.mkstemp(dir=Path(path).parent, prefix='ckpt-tmp-')
    os.close(fd)
    return tmp


def _remove_then_rename(tmp, path):
    if os.path.exists(path):
        os.remove(path)
    os.rename(tmp, path)


def _replace(tmp, path):
    os.replace(tmp, path)  # looked up when called: the checks watch os.replace


def _move(tmp, path):
    shutil.move(tmp, path)


def _copy(tmp, path):
    shutil.copyfile(tmp, path)


def _unlink_if_there(tmp):
    if os.path.exists(tmp):
        os.unlink(tmp)


def _save_variant(state=_full_state, *, tmp=_tmp_beside, place=_replace, cleanup="always"):
    """A ``save_checkpoint(path, model, optimizer, scaler, epoch)`` from its steps (see above)."""
    def save(path, model, optimizer, scaler, epoch):
        obj = state(model, optimizer, scaler, epoch)
        if tmp is None:
            torch.save(obj, path)
            return
        written = tmp(path)
        try:
            torch.save(obj, written)
        except BaseException:
            if cleanup != "never":
                _unlink_if_there(written)
            raise
        try:
            place(written, path)
        finally:
            if cleanup == "always":
                _unlink_if_there(written)
    return save


#: A correct save (mkstemp beside the target), kept beside the mistakes built from it.
_ms_save_checkpoint = _save_variant(tmp=_mkstemp_beside)


def _ms_save_scaler_always_none(path, model, optimizer, scaler, epoch):  # noqa: ARG001
    _ms_save_checkpoint(path, model, optimizer, None, epoch)


def _ms_load(path, model, optimizer, scaler, *, rng=True, opt=True, sc=True, epoch_off=0):
    state = torch.load(path, map_location='cpu', weights_only=True)
    model.load_state_dict(state['model'])
    if opt:
        optimizer.load_state_dict(state['optimizer'])
    if sc and scaler is not None:
        scaler.load_state_dict(state['scaler'])
    if rng:
        torch.set_rng_state(state['rng']['torch'])
    return int(state['epoch']) + epoch_off


def _mio_restore(state, model, optimizer, scaler):
    model.load_state_dict(state['model'])
    optimizer.load_state_dict(state['optimizer'])
    if scaler is not None and state['scaler'] is not None:
        scaler.load_state_dict(state['scaler'])
    torch.set_rng_state(state['rng']['torch'])
    return int(state['epoch'])


def _mio_load_unsafe_fallback(path, model, optimizer, scaler):
    try:
        state = torch.load(path, map_location='cpu', weights_only=True)
    except Exception:  # "it failed on an old file, so..."
        state = torch.load(path, map_location='cpu', weights_only=False)
    return _mio_restore(state, model, optimizer, scaler)


def _mio_load_unsafe(path, model, optimizer, scaler):
    return _mio_restore(torch.load(path, map_location='cpu', weights_only=False), model, optimizer, scaler)


def _mio_load_no_map_location(path, model, optimizer, scaler):
    return _mio_restore(torch.load(path, weights_only=True), model, optimizer, scaler)


def _mac_epoch(model, batches, optimizer, k, device, *, scale="size", zero_each=False, drop_last=False):
    model.to(device)
    model.train()
    batches = list(batches)
    total, count = 0.0, 0
    for start in range(0, len(batches), k):
        group = batches[start:start + k]
        if drop_last and len(group) < k:
            break
        n = sum(len(y) for _, y in group)
        optimizer.zero_grad()
        for x, y in group:
            if zero_each:
                optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            w = {"size": len(y) / n, "k": 1.0 / k, "none": 1.0}[scale]
            (loss * w).backward()
            total += loss.item() * len(y)
            count += len(y)
        optimizer.step()
    return total / count


_MISTAKES: dict[str, Mistakes] = {
    'train_epoch_accumulate': {
        "losses summed, not averaged": (lambda *a: _mac_epoch(*a, scale="none"), "per group|per image|steps|weight"),
        "divided by k whatever the sizes": (lambda *a: _mac_epoch(*a, scale="k"), "per group|per image|steps|weight"),
        "gradients cleared every micro-batch": (lambda *a: _mac_epoch(*a, zero_each=True), "per group|per image|steps|weight"),
        "last incomplete group dropped": (lambda *a: _mac_epoch(*a, drop_last=True), "per group|per image|steps|weight"),
        "a step per micro-batch": (lambda m, b, o, k, d: _mac_epoch(m, b, o, 1, d), "per group|per image|steps|weight"),
    },
    'autocast_settings': {
        "check: prefer bfloat16": (_mc_fp16_everywhere_on_cuda, "prefer bfloat16"),
        "check: no scaler needed": (_mc_scaler_with_bf16, "no scaler needed"),
        "check: dtype torch.bfloat16 for cpu": (_mc_fp16_on_cpu, "dtype torch.bfloat16 for cpu"),
        "check: underflow": (_mc_no_scaler_ever, "underflow"),
        "scaler with bf16": (_mc_scaler_with_bf16, None),
        "fp16 everywhere": (_ms_autocast_fp16_everywhere, None),
        "strings only": (_ms_autocast_strings_only, None),
    },
    'save_checkpoint': {
        "check: os.replace": (_save_variant(tmp=None), "rename it over the target|a rename is atomic"),
        "check: partial file": (_save_variant(cleanup="never"), "partial file"),
        "check: get_rng_state": (_save_variant(_state_with(rng=None)), "random generator.s state"),
        "check: optimizer.state_dict": (_save_variant(_state_with(optimizer=None)), "optimiser.s state"),
        "check: weights_only": (_save_variant(_objects_state, cleanup="never"), "weights-only"),
        "check: keys": (_save_variant(_other_keys_state, tmp=None), "keys"),
        "not atomic": (_save_variant(tmp=None), None),
        "temporary file left behind": (_save_variant(cleanup="never"), None),
        "no RNG state": (_save_variant(_state_with(rng={})), None),
        "no optimizer state": (_save_variant(_state_with(optimizer={})), None),
        "scaler never saved": (_ms_save_scaler_always_none, None),
        "temporary file in the system's temp folder": (_save_variant(tmp=_tmp_in_system_folder, place=_move), "same folder"),
        "old checkpoint removed before the rename": (_save_variant(place=_remove_then_rename), "just before the rename"),
        "clean-up only around the write": (_save_variant(cleanup="write"), "no temporary file left when the rename"),
        "copied into place": (_save_variant(place=_copy), "renamed onto the checkpoint path"),
    },
    'train_epoch': {
        "mean of batch means": (lambda *a: _ms_epoch(*a, mean_of_means=True), "mean cross-entropy per image|smaller"),
        "no model.train()": (lambda *a: _ms_epoch(*a, no_train=True), "training mode"),
        "scaler ignored": (lambda *a: _ms_epoch(*a, ignore_scaler=True), None),
        "optimizer.step with a scaler": (lambda *a: _ms_epoch(*a, scaler_no_step=True), None),
        "amp ignored": (lambda *a: _ms_epoch(*a, ignore_amp=True), None),
    },
    'load_checkpoint': {
        "RNG not restored": (lambda *a: _ms_load(*a, rng=False), None),
        "optimizer not restored": (lambda *a: _ms_load(*a, opt=False), None),
        "scaler not restored": (lambda *a: _ms_load(*a, sc=False), None),
        "epoch off by one": (lambda *a: _ms_load(*a, epoch_off=1), None),
        "weights_only=False as a fallback": (_mio_load_unsafe_fallback, "safe loader refuses"),
        "weights_only=False": (_mio_load_unsafe, "weights-only"),
        "no map_location": (_mio_load_no_map_location, "onto the CPU"),
    },
}


# --------------------------------------------------------------------------- the entry (grading contract)

def _loose_under_amp(args: list) -> dict[str, float]:
    """bf16 autocast: a loss computed in bf16 or fp32 may round differently; fp32 runs compare tightly."""
    return {"weights": 2e-2, "mean_loss": 2e-2} if args[1] else {}


def _tag(case: Case, *tags: str) -> Case:
    """The case with the contract properties it tests (see genlab.exercises.PROPERTIES)."""
    return dataclasses.replace(case, tags=tags)


_SETTINGS_PUBLIC = [["cuda", True, False], ["cuda", False, False], ["cpu", None, False], ["mps", None, False]]
_SETTINGS_HELD = [["cuda", False, True], ["cpu", None, True], ["cuda", True, True], ["mps", None, True]]

# --------------------------------------------------------------------------- challenge
# The lab's challenge (gradebook column c_...): genlab.exercises.challenges measures the saved model.
CHALLENGE = Challenge(
    lab="07", cid="c_acc", title="a digit classifier, trained with your loop, accurate on held-back test digits",
    models=("classifier",), metric="accuracy", unit="accuracy", thresholds=(0.90, 0.94, 0.96),
    higher_is_better=True, max_params=1_000_000)


# --------------------------------------------------------------------------- the entries
LAB = build_lab("07_gpu_training", "GPU training", mistakes=_MISTAKES, namespace=globals(), items=[
        Item(
            name="autocast_settings", points=2,
            reference="genlab.exercises.lab07.autocast_settings",
            compare="custom",
            check=scenario_check("autocast", autocast_settings, {
                "settings": "(enabled, dtype, use_scaler) differs: CUDA with bf16 -> (True, bfloat16, False); "
                            "CUDA without -> (True, float16, True); CPU -> (True, bfloat16, False); "
                            "MPS -> (True, float16, False). A scaler only with float16 on CUDA"}),
            cases=[_tag(scenario_case("public-1", "autocast", _SETTINGS_PUBLIC), "value", "device-dtype"),
                   _tag(scenario_case("held-1", "autocast", _SETTINGS_HELD, public=False, seeded=False), "value", "device-dtype")],
            expected="(enabled, dtype, use_scaler): bfloat16 without a scaler where supported (CUDA with bf16, "
                     "CPU), float16 with a GradScaler on CUDA without bf16, float16 without a scaler elsewhere; "
                     "accepts a device name or a device object.",
            hint='accept a string or a device object alike; genlab.hint("autocast_settings", 2).',
        ),
        Item(
            name="train_epoch", points=3,
            reference="genlab.exercises.lab07.train_epoch",
            compare="custom",
            check=scenario_check("train_epoch", train_epoch, {
                "mean_loss": "the returned loss is not the mean cross-entropy per image over the epoch "
                             "(weight each batch by its size)",
                "weights": "the weights after the epoch differ from one cross-entropy SGD step per batch (training mode? the scaler's step? gradients cleared?)",
                "training_mode": "the model is not in training mode at the end of the epoch",
                "forward_autocast": 'with amp on, the forward pass must run under autocast (its dtype from autocast_settings)',
                "forward_fp32": "with amp off, the forward pass must run in float32",
                "scaler_calls": 'with a scaler: back-propagate the scaled loss, let the scaler take the step and update it, once per batch',
            }, rtol=1e-4, atol=1e-5, loose=_loose_under_amp),
            cases=[_tag(scenario_case("public-fp32", "train_epoch", [0, False, False]), "value", "shape", "side-effects", "device-dtype"),
                   _tag(scenario_case("public-scaler", "train_epoch", [1, False, True]), "value", "shape", "behaviour"),
                   _tag(scenario_case("held-amp", "train_epoch", [2, True, False], public=False), "device-dtype", "shape", "side-effects"),
                   _tag(scenario_case("held-fp32", "train_epoch", [3, False, False], public=False), "value", "shape", "side-effects", "device-dtype")],
            expected="moves model and batches to the device, puts the model in training mode, autocasts the forward "
                     "pass when amp, computes the loss in float32, lets the scaler scale the backward pass and take "
                     "the step when one is given; returns the mean loss per image.",
            hint='weight each batch by its size; with a scaler the scaler takes the step. '
                 'genlab.hint("train_epoch", 2).',
        ),
        Item(
            name="train_epoch_accumulate", points=2,
            reference="genlab.exercises.lab07.train_epoch_accumulate", compare="custom",
            check=scenario_check("train_epoch_accumulate", train_epoch_accumulate, {
                "big_batch_max_abs_diff": "the weights differ from one step per group of k micro-batches on "
                                          "their images joined: a run with accumulation would not train like "
                                          "the big batch it stands for",
                "steps": "the number of optimiser steps is not one per group of k micro-batches (the last "
                         "group may be smaller): the run takes too many or too few updates",
                "mean_loss": "the returned loss is not the mean cross-entropy per image over the epoch",
                "training_mode": "the model is not in training mode after the epoch",
            }, rtol=1e-4, atol=1e-5),
            cases=[_tag(scenario_case("public-1", "train_epoch_accumulate", [0, 2, [5, 5, 5, 5, 5, 5, 3]]),
                        "value", "shape", "behaviour"),
                   _tag(scenario_case("public-k1", "train_epoch_accumulate", [1, 1, [6, 6, 4]]), "value", "behaviour"),
                   _tag(scenario_case("held-1", "train_epoch_accumulate", [2, 3, [4, 4, 4, 4, 2]], public=False),
                        "value", "shape", "behaviour"),
                   _tag(scenario_case("held-2", "train_epoch_accumulate", [3, 4, [1, 7, 3, 5, 2, 6]], public=False),
                        "value", "shape", "behaviour")],
            expected="one optimiser step per group of k micro-batches (a smaller last group included), whose "
                     "gradient is that of the mean loss over the group's images; returns the mean loss per image.",
            hint='weigh each micro-batch by its share of its group\'s images. genlab.hint("train_epoch_accumulate", 2).',
        ),
        Item(
            name="save_checkpoint", points=3,
            reference="genlab.exercises.lab07.save_checkpoint", also_forbidden=("genlab.train.save_checkpoint",),
            compare="custom",
            check=scenario_check("save_checkpoint", save_checkpoint, {
                "previous_checkpoint_intact": "a crash during the write destroyed the previous checkpoint: "
                                              "write to a temporary file, then rename it over the target",
                "no_partial_file_left": "a crash during the write left a partial file behind: delete the "
                                        "temporary file in a finally block",
                "keys": 'the file must hold a dict with keys "model", "optimizer", "scaler", "epoch", "rng"',
                "model_saved": 'the file\'s "model" entry is not the model\'s weights',
                "optimizer_saved": 'the file\'s "optimizer" entry is not the optimiser\'s full state',
                "epoch": "the file's \"epoch\" is not the epoch given",
                "rng_saved": "the file's RNG entry is not the random generator's state at the time of saving",
                "scaler_saved": 'the file\'s "scaler" entry is not the scaler\'s state',
                "no_scaler_is_None": "without a scaler the file's \"scaler\" must be None",
                **{k: f"{v[0]}: {v[2]}" for k, v in _SAVE_IO_MESSAGES.items()},
                "resumed_epoch": "loading the file did not give back the epoch",
                "resume_max_abs_diff": "2 epochs + save + load + 2 epochs did not equal 4 epochs exactly "
                                       "(is the RNG state or the optimiser state missing?)",
            }, rtol=0.0, atol=0.0),
            cases=[_tag(scenario_case("public-1", "save_checkpoint", [0]), "io", "behaviour", "randomness"),
                   _tag(scenario_case("held-1", "save_checkpoint", [7], public=False), "io", "behaviour", "randomness")],
            expected='an atomic write (a temporary file renamed over the target, the temporary file removed on failure) of {model, optimizer, scaler or None, epoch, rng: {torch}} that resumes exactly.',
            hint='a temporary file beside the target, renamed onto it, removed whatever step fails. '
                 'genlab.hint("save_checkpoint", 3).',
        ),
        Item(
            name="load_checkpoint", points=2,
            reference="genlab.exercises.lab07.load_checkpoint", also_forbidden=("genlab.train.load_checkpoint",),
            compare="custom",
            check=scenario_check("load_checkpoint", load_checkpoint, {
                "resumed_epoch": "the returned epoch is not the one in the file",
                "resume_max_abs_diff": "2 epochs + save + load + 2 epochs did not equal 4 epochs exactly: restore the model, the optimiser and the random generator's state",
                "scaler_restored": "the scaler's state was not restored (scaler.load_state_dict)",
                "file_without_scaler": "a file saved without a scaler must load (and return its epoch) even "
                                       "when a scaler is passed",
                "weights_only_true": "the file was read without the safe weights-only loader: a checkpoint from "
                                     "elsewhere could run code on your machine",
                "map_location_cpu": "the file's tensors were not mapped onto the CPU when read: a GPU checkpoint fails "
                                    "on a machine without one",
                "unsafe_file_refused": 'a file the safe loader refuses was unpickled anyway (a fallback to the unsafe full-pickle loader): code stored in it ran',
            }, rtol=0.0, atol=0.0),
            cases=[_tag(scenario_case("public-1", "load_checkpoint", [0]), "io", "behaviour", "randomness"),
                   _tag(scenario_case("held-1", "load_checkpoint", [9], public=False), "io", "behaviour", "randomness")],
            expected="reads the file with the safe weights-only loader, its tensors mapped to the CPU; restores model, "
                     "optimiser, scaler (when both exist) and the RNG state; returns the epoch as an int.",
            hint='the safe loader only, onto the CPU; restore every piece the file holds. '
                 'genlab.hint("load_checkpoint", 3).',
        ),
    ],
)
