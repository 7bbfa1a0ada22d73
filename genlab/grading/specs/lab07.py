"""Grading spec of lab 07 (GPU training): autocast_settings, train_epoch, save/load_checkpoint.

Everything is graded by behaviour on the CPU (:mod:`genlab.grading.scenarios`):

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
"""

from __future__ import annotations

from ..scenarios import (
    ref_autocast_settings,
    ref_load_checkpoint,
    ref_save_checkpoint,
    ref_train_epoch,
)
from ..spec import Item, LabSpec, scenario_case, scenario_check


def _loose_under_amp(args: list) -> dict[str, float]:
    """bf16 autocast: a loss computed in bf16 or fp32 may round differently; fp32 runs compare tightly."""
    return {"weights": 2e-2, "mean_loss": 2e-2} if args[1] else {}


_SETTINGS_PUBLIC = [["cuda", True, False], ["cuda", False, False], ["cpu", None, False], ["mps", None, False]]
_SETTINGS_HELD = [["cuda", False, True], ["cpu", None, True], ["cuda", True, True], ["mps", None, True]]

SPEC = LabSpec(
    lab="07_gpu_training",
    title="GPU training",
    items=[
        Item(
            name="autocast_settings", points=2,
            also_forbidden=("genlab.checks.lab07._ref_autocast_settings",),
            compare="custom",
            check=scenario_check("autocast", ref_autocast_settings, {
                "settings": "(enabled, dtype, use_scaler) differs: CUDA with bf16 -> (True, bfloat16, False); "
                            "CUDA without -> (True, float16, True); CPU -> (True, bfloat16, False); "
                            "MPS -> (True, float16, False). A scaler only with float16 on CUDA"}),
            cases=[scenario_case("public-1", "autocast", _SETTINGS_PUBLIC),
                   scenario_case("held-1", "autocast", _SETTINGS_HELD, public=False, seeded=False)],
            expected="(enabled, dtype, use_scaler): bfloat16 without a scaler where supported (CUDA with bf16, "
                     "CPU), float16 with a GradScaler on CUDA without bf16, float16 without a scaler elsewhere; "
                     "accepts a string or a torch.device.",
            hint="device = torch.device(device) first; branch on device.type.",
        ),
        Item(
            name="train_epoch", points=3,
            also_forbidden=("genlab.checks.lab07._ref_train_epoch",),
            compare="custom",
            check=scenario_check("train_epoch", ref_train_epoch, {
                "mean_loss": "the returned loss is not the mean cross-entropy per image over the epoch "
                             "(weight each batch by its size)",
                "weights": "the weights after the epoch differ from one cross-entropy SGD step per batch "
                           "(model.train()? scaler.step? zero_grad?)",
                "training_mode": "the model is not in training mode: call model.train()",
                "forward_autocast": "with amp=True the forward pass must run under torch.autocast "
                                    "(dtype from autocast_settings)",
                "forward_fp32": "with amp=False the forward pass must run in float32",
                "scaler_calls": "with a scaler: scaler.scale(loss).backward(), scaler.step(optimizer), "
                                "scaler.update() once per batch",
            }, rtol=1e-4, atol=1e-5, loose=_loose_under_amp),
            cases=[scenario_case("public-fp32", "train_epoch", [0, False, False]),
                   scenario_case("public-scaler", "train_epoch", [1, False, True]),
                   scenario_case("held-amp", "train_epoch", [2, True, False], public=False),
                   scenario_case("held-fp32", "train_epoch", [3, False, False], public=False)],
            expected="moves model and batches to device, model.train(), autocast forward when amp, fp32 loss, "
                     "scaled backward/step/update when a scaler is given; returns the mean loss per image.",
            hint="total += loss.item() * len(x); return total / count. With a scaler never call "
                 "optimizer.step() yourself.",
        ),
        Item(
            name="save_checkpoint", points=3,
            also_forbidden=("genlab.checks.lab07._ref_save", "genlab.train.save_checkpoint"),
            compare="custom",
            check=scenario_check("save_checkpoint", ref_save_checkpoint, {
                "previous_checkpoint_intact": "a crash during the write destroyed the previous checkpoint: "
                                              "write to a temporary file, then os.replace(tmp, path)",
                "no_partial_file_left": "a crash during the write left a partial file behind: delete the "
                                        "temporary file in a finally block",
                "keys": 'the file must hold a dict with keys "model", "optimizer", "scaler", "epoch", "rng"',
                "model_saved": "the file's \"model\" is not model.state_dict()",
                "optimizer_saved": "the file's \"optimizer\" is not optimizer.state_dict() (with its state)",
                "epoch": "the file's \"epoch\" is not the epoch given",
                "rng_saved": "the file's rng[\"torch\"] is not torch.get_rng_state() at the time of saving",
                "scaler_saved": "the file's \"scaler\" is not scaler.state_dict()",
                "no_scaler_is_None": "without a scaler the file's \"scaler\" must be None",
                "resumed_epoch": "loading the file did not give back the epoch",
                "resume_max_abs_diff": "2 epochs + save + load + 2 epochs did not equal 4 epochs exactly "
                                       "(is the RNG state or the optimiser state missing?)",
            }, rtol=0.0, atol=0.0),
            cases=[scenario_case("public-1", "save_checkpoint", [0]),
                   scenario_case("held-1", "save_checkpoint", [7], public=False)],
            expected="an atomic write (temporary file + os.replace, temporary file removed on failure) of "
                     "{model, optimizer, scaler or None, epoch, rng: {torch}} that resumes exactly.",
            hint="tmp = path.with_name(path.name + '.tmp'); try: torch.save(state, tmp); os.replace(tmp, path) "
                 "finally: remove tmp if it exists.",
        ),
        Item(
            name="load_checkpoint", points=2,
            also_forbidden=("genlab.checks.lab07._ref_load", "genlab.train.load_checkpoint"),
            compare="custom",
            check=scenario_check("load_checkpoint", ref_load_checkpoint, {
                "resumed_epoch": "the returned epoch is not the one in the file",
                "resume_max_abs_diff": "2 epochs + save + load + 2 epochs did not equal 4 epochs exactly: restore "
                                       "the model, the optimiser and the RNG state (torch.set_rng_state)",
                "scaler_restored": "the scaler's state was not restored (scaler.load_state_dict)",
                "file_without_scaler": "a file saved without a scaler must load (and return its epoch) even "
                                       "when a scaler is passed",
            }, rtol=0.0, atol=0.0),
            cases=[scenario_case("public-1", "load_checkpoint", [0]),
                   scenario_case("held-1", "load_checkpoint", [9], public=False)],
            expected="torch.load(path, map_location='cpu', weights_only=True); restore model, optimiser, scaler "
                     "(when both exist) and torch RNG; return the epoch as an int.",
            hint="if scaler is not None and state['scaler'] is not None: scaler.load_state_dict(...); "
                 "torch.set_rng_state(state['rng']['torch']).",
        ),
    ],
)
