"""The one training loop: accelerate around the trained modules, their optimiser and schedule.

Pre-training (:mod:`maven.training.trainer`) and the fine-tuning stages
(:mod:`maven.training.finetune`: contrastive, and the head) step through a :class:`Loop`, so
each runs on CPU, one GPU or many processes (``accelerate launch`` or ``torchrun``), with mixed
precision where the accelerator is built with it (``accelerate launch --mixed_precision``),
and can save and resume its whole state.

A checkpoint is written to ``checkpoints/step-N.tmp``, its files' sizes and sha256 recorded in
its ``trainer_state.json``, and swapped in atomically (:mod:`maven.utils.atomic`);
``checkpoints/latest`` is replaced after it. :meth:`Loop.resume` takes the newest checkpoint
that passes those checks (saying which it passed over, and refusing to start afresh when none
does). A resumed run equals an uninterrupted one bit for bit when both use the same number of
torch threads (CPU kernels sum in another order otherwise).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

import torch

from maven.errors import StorageError
from maven.utils.atomic import checksums, replace_directory, storage_error, verify_files, write_text

__all__ = ["Loop", "checkpoint_step", "latest_checkpoint", "make_accelerator", "save_checkpoint"]


def make_accelerator(*, cpu: bool, mixed_precision: str | None = None, grad_accum_steps: int = 1):
    """The ``accelerate.Accelerator`` of a :class:`Loop`: one schedule step per optimiser
    step, whatever the number of processes. ``mixed_precision=None``: as ``accelerate
    launch`` says (none without it)."""
    from accelerate import Accelerator

    return Accelerator(
        cpu=cpu,
        mixed_precision=mixed_precision,
        gradient_accumulation_steps=grad_accum_steps,
        step_scheduler_with_optimizer=False,
    )


class Loop:
    """Optimiser steps of ``modules`` under ``accelerator``.

    The modules, the optimiser and the schedule are prepared (device placement, data-parallel
    wrapping, autocast); one micro-step is::

        with loop.accumulate():
            loss = ...  # from loop.modules
            loop.update(loss)

    Args:
        accelerator: from :func:`make_accelerator`.
        modules: the trained modules (the first one's weights are a checkpoint's
            ``model.safetensors``).
        optimizer, scheduler: over their parameters.
        params: the parameters whose gradient norm is clipped, in this order.
        grad_clip: the norm they are clipped to.
    """

    def __init__(
        self,
        accelerator,
        modules: Sequence[torch.nn.Module],
        optimizer,
        scheduler,
        params: Sequence[torch.nn.Parameter],
        grad_clip: float,
    ) -> None:
        *prepared, self.optimizer, self.scheduler = accelerator.prepare(
            *modules, optimizer, scheduler
        )
        self.accelerator = accelerator
        self.modules = prepared
        self.params = list(params)
        self.grad_clip = grad_clip

    def accumulate(self):
        """The context of one micro-step: gradients are synchronised on an accumulation's
        last micro-step only."""
        return self.accelerator.accumulate(*self.modules)

    def update(self, loss: torch.Tensor) -> bool:
        """Back-propagate ``loss``; at the end of an accumulation clip the gradients, step the
        optimiser and the schedule. Returns whether an optimiser step was taken."""
        acc = self.accelerator
        acc.backward(loss)
        if acc.sync_gradients:
            acc.clip_grad_norm_(self.params, self.grad_clip)
        self.optimizer.step()
        if acc.sync_gradients:
            self.scheduler.step()
        self.optimizer.zero_grad()
        return acc.sync_gradients

    def finish(self) -> None:
        """Take the data-parallel and autocast wrappers off the trained modules (mixed
        precision patches the module's own ``forward``), for inference and saving."""
        for m in self.modules:
            self.accelerator.unwrap_model(m, keep_fp32_wrapper=False)

    def save(self, output_dir: Path, step: int, keep: int) -> None:
        """Checkpoint the whole state as ``output_dir/checkpoints/step-N`` (see
        :func:`save_checkpoint`)."""
        save_checkpoint(self.accelerator, output_dir, step, keep)

    def resume(self, output_dir: Path) -> int:
        """Load the newest complete checkpoint of ``output_dir``; returns its step (0 when
        there is none).

        Raises:
            StorageError: there are checkpoints but none is usable.
        """
        acc = self.accelerator
        passed_over: list[str] = []
        ckpt = latest_checkpoint(output_dir, rejected=passed_over)
        for why in passed_over:
            acc.print(f"resume: passed over {why}")
        if ckpt is None:
            if passed_over:
                raise StorageError(
                    f"{output_dir}: --resume found no usable checkpoint "
                    f"({'; '.join(passed_over)}); remove the checkpoints folder to start afresh"
                )
            acc.print(f"resume: no checkpoint in {output_dir}; starting at step 0")
            return 0
        acc.load_state(str(ckpt))
        step = checkpoint_step(ckpt)
        acc.print(f"resumed from {ckpt} at step {step}")
        threads = json.loads((ckpt / "trainer_state.json").read_text()).get("torch_threads")
        if threads not in (None, torch.get_num_threads()):  # CPU kernels sum in another order
            acc.print(
                f"resume: the checkpoint was written with {threads} torch threads, this run has "
                f"{torch.get_num_threads()}: results will differ in the last bits, not exactly "
                "equal a run without the interruption (set OMP_NUM_THREADS to match)"
            )
        return step


def checkpoint_step(path: Path) -> int:
    """The step of a complete checkpoint folder: its ``trainer_state.json`` names the step
    and the size and sha256 of every file (older checkpoints: the step only).

    Raises:
        StorageError: what is missing or damaged.
    """
    try:
        state = json.loads((path / "trainer_state.json").read_text())
    except (OSError, ValueError) as exc:
        raise StorageError(f"{path.name}: no readable trainer_state.json ({exc})") from None
    step = state.get("step") if isinstance(state, dict) else None
    if not isinstance(step, int) or isinstance(step, bool) or path.name != f"step-{step:06d}":
        raise StorageError(f"{path.name}: trainer_state.json names step {step!r}")
    if "files" in state:
        verify_files(path, state["files"])
    return step


def latest_checkpoint(output_dir: str | Path, *, rejected: list | None = None) -> Path | None:
    """The newest complete checkpoint folder (highest step that passes its checks), or
    ``None``. The ``latest`` pointer is not trusted: every ``step-N`` folder is considered,
    newest first; why each newer one was passed over is appended to ``rejected`` (if given),
    as is a ``latest`` that names another folder."""
    ckpt_dir = Path(output_dir) / "checkpoints"
    found = sorted(
        (int(m.group(1)), p)
        for p in (ckpt_dir.glob("step-*") if ckpt_dir.is_dir() else [])
        if (m := re.fullmatch(r"step-(\d+)", p.name)) and p.is_dir()
    )
    notes = [] if rejected is None else rejected
    chosen = None
    for _, path in reversed(found):
        try:
            checkpoint_step(path)
        except StorageError as exc:
            notes.append(str(exc))
            continue
        chosen = path
        break
    pointer = ckpt_dir / "latest"
    named = pointer.read_text().strip() if pointer.is_file() else None
    if named is not None and named != getattr(chosen, "name", None):
        where = "missing" if not (ckpt_dir / named).is_dir() else "not usable"
        notes.append(f"'latest' names {named}, which is {where}")
    return chosen


def save_checkpoint(accelerator, output_dir: Path, step: int, keep: int) -> None:
    """Write ``checkpoints/step-N`` complete beside itself, checksum it and swap it in
    (:mod:`maven.utils.atomic`); then point ``latest`` at it and drop all but ``keep``.

    Raises:
        StorageError: the state cannot be written (disk full); earlier checkpoints are intact.
    """
    ckpt_dir = output_dir / "checkpoints"
    final = ckpt_dir / f"step-{step:06d}"
    tmp = ckpt_dir / f"step-{step:06d}.tmp"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
    accelerator.wait_for_everyone()
    try:
        accelerator.save_state(str(tmp))
    except (OSError, RuntimeError) as exc:  # torch reports a full disk as a RuntimeError
        shutil.rmtree(tmp, ignore_errors=True)
        raise StorageError(f"{final}: cannot write the checkpoint: {exc}") from None
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        names = sorted(str(f.relative_to(tmp)) for f in tmp.rglob("*") if f.is_file())
        try:
            state = {
                "step": step,
                "torch_threads": torch.get_num_threads(),
                "files": checksums(tmp, names),
            }
        except OSError as exc:
            raise storage_error(tmp, exc, "read back") from None
        write_text(tmp / "trainer_state.json", json.dumps(state, indent=1))
        replace_directory(tmp, final)
        write_text(ckpt_dir / "latest", final.name)
        done = sorted(p for p in ckpt_dir.glob("step-*") if re.fullmatch(r"step-\d+", p.name))
        for old in done[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
