"""One training loop for every model in the course, plus atomic checkpoints and exact resume.

The loop (:func:`fit`) knows nothing about the model. What changes between model
families is one *step function*, held by a small :class:`Task` (``tasks.py``). The loop
itself (``loop.py``) is built from the four functions lab 07 has students write:
:func:`autocast_settings`, :func:`train_epoch`, :func:`save_checkpoint` and
:func:`load_checkpoint`; its knobs are a :class:`TrainConfig`.

=====================  ==============================================================
module                 what it holds
=====================  ==============================================================
``loop``               ``fit``, ``TrainConfig``, lab 07's four functions, ``LRDrop``, ``CosineLR``, ``resume_latest``
``tasks``              every Task, the GAN update, the mask sampler, the registry of families
``checkpoint``         the one checkpoint format: atomic writes, plain-data checks, RNG states
``context``            ``History``, ``TrainContext`` (what steps and callbacks see), ``intra_op_threads``
``batches``            in-memory shuffling (checkpointed), loaders, DDP shards
``distributed``        joining torchrun's process group, DDP wrappers
``cli``                ``genlab train`` (presets rebuild the shipped weights)
=====================  ==============================================================

Developed in course/07_gpu_training (lab 07).
"""

from __future__ import annotations

from .checkpoint import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_NAME,
    atomic_write,
    atomic_write_bytes,
    check_plain,
    checkpoint_state,
    read_checkpoint,
    restore,
    write_checkpoint,
)
from .context import History, TrainContext, TrainingDiverged, intra_op_threads
from .distributed import launched_by_torchrun
from .loop import (
    CosineLR,
    LRDrop,
    TrainConfig,
    autocast_settings,
    fit,
    load_checkpoint,
    resolve_amp,
    resume_latest,
    save_checkpoint,
    train_epoch,
)
from .tasks import (
    DEFAULT_MASKS,
    FAMILIES,
    FAMILY_TASKS,
    TASKS,
    AutoencoderTask,
    ClassifierTask,
    DiffusionTask,
    FillRepairTask,
    GANTask,
    Pix2PixTask,
    RepairTask,
    Task,
    VAETask,
    build_task,
    discriminator_update,
    fill_pool,
    gan_training_step,
    gan_update,
    generator_update,
    mask_mix,
)

__all__ = [
    "AutoencoderTask", "CHECKPOINT_FORMAT", "CHECKPOINT_NAME", "ClassifierTask", "DEFAULT_MASKS",
    "CosineLR", "DiffusionTask", "FAMILIES", "FAMILY_TASKS", "FillRepairTask", "GANTask", "History", "LRDrop",
    "Pix2PixTask", "RepairTask", "TASKS", "Task", "TrainConfig", "TrainContext", "TrainingDiverged", "VAETask",
    "atomic_write", "atomic_write_bytes", "autocast_settings", "build_task", "check_plain", "checkpoint_state",
    "discriminator_update", "fill_pool", "fit", "gan_training_step", "gan_update", "generator_update",
    "intra_op_threads", "launched_by_torchrun", "load_checkpoint", "mask_mix", "read_checkpoint", "resolve_amp", "restore",
    "resume_latest", "save_checkpoint", "train_epoch", "write_checkpoint",
]
