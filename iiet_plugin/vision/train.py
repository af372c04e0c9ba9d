"""Train an iiet_vit (or any timm model) on Fashion-MNIST IDX files or an ImageFolder tree.

Built from timm's parts: create_model, resolve_data_config + create_loader (transforms,
augmentation), create_optimizer_v2, create_scheduler_v2, label-smoothing loss, ModelEmaV3,
accuracy (top-1/top-5); torchvision's ImageFolder; DDP under torchrun.

    iiet-vit-train --data $IIET_DATA/vision/fashion-mnist \
        --model iiet_vit_tiny_patch4_28 --ode-solver iie --iie-iters 1 --epochs 10 --output runs/fmnist
    torchrun --nproc_per_node 2 -m iiet_plugin.vision.train --data ... (same flags)

(``python examples/vision/train.py`` is the same program.)

Checkpoints (``last.pt``, ``best.pt`` in --output; with ``--save-interval-steps N`` also the
weights every N steps as ``checkpoint_EPOCH_STEP.pt``) hold only tensors and plain values, so
they load with ``torch.load(weights_only=True)``, and are written atomically (a kill leaves
the previous file whole).  ``--resume`` restores model, optimizer, scheduler, EMA, epoch,
step and the metric history; with changed schedule options (``--epochs``, ``--lr``,
``--sched``, ``--warmup-epochs``, ``--batch-size``, ``--train-limit``) the learning-rate
schedule is rebuilt from the new options (and the script says so); changed model or
optimizer options are refused.  ``--valid-images N`` holds out the last N images of the
Fashion-MNIST training file as a validation split, disjoint from the training images: it is
scored every epoch (``valid_top1``, ``valid_loss`` in the history, beside the eval images'
``top1``), ``best.pt`` is chosen on it, and IIAD calibrates on it, so that nothing is chosen on
the reported eval images.  A non-empty ``--output`` is refused unless ``--resume`` or
``--overwrite`` is given.
"""
import argparse
import json
import os
import time

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP
from tqdm import tqdm

import timm
from timm.data import create_loader, resolve_data_config
from timm.loss import LabelSmoothingCrossEntropy
from timm.optim import create_optimizer_v2
from timm.scheduler import create_scheduler_v2
from timm.utils import AverageMeter, ModelEmaV3, accuracy

import iiet_plugin  # noqa: F401  (registers iiet_vit_*)
from iiet_plugin.atomic_io import atomic_write
from iiet_plugin.precision import amp_dtype, autocast, native_low_precision
from iiet_plugin.cli.options import add_ode_arguments, flag, ode_kwargs
from iiet_plugin.ode import OPTIONS, ConfigError, check_kd_options, check_student_request, kd_divergence, kd_loss
from iiet_plugin.vision.checkpoints import (create_kwargs, model_from_checkpoint, model_kwargs_from, read_checkpoint,
                                            save_checkpoint)
from iiet_plugin.vision.idx_dataset import IDXImageDataset, check_holdout, count_images, is_idx_dir
from iiet_plugin.vision.influence import choose_plan

# options that define the trained model, its optimizer and its validation split: a resume must not change them
MODEL_OPTIONS = ("valid_images", "model", "model_kwargs", *(spec.name for spec in OPTIONS), "opt", "weight_decay",
                 "teacher", "iiad_threshold", "iiad_plan", "iiad_score")
# options of the learning-rate schedule: a resume with other values rebuilds the schedule
SCHEDULE_OPTIONS = ("epochs", "lr", "sched", "warmup_epochs", "batch_size", "train_limit")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="Fashion-MNIST IDX dir, or ImageFolder root with train/ and val/")
    p.add_argument("--model", default="iiet_vit_tiny_patch4_28")
    p.add_argument("--model-kwargs", default="{}", help="JSON of extra create_model kwargs (embed_dim, depth, ...)")
    add_ode_arguments(p)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--opt", default="adamw")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--sched", default="cosine")
    p.add_argument("--warmup-epochs", type=int, default=1)
    p.add_argument("--smoothing", type=float, default=0.1)
    p.add_argument("--model-ema", action="store_true")
    p.add_argument("--model-ema-decay", type=float, default=0.999)
    p.add_argument("--train-limit", type=int, default=0, help="use the first N training images (0 = all)")
    p.add_argument("--eval-limit", type=int, default=0)
    p.add_argument("--valid-images", type=int, default=0,
                   help="hold out the last N training images as a validation split: scored every epoch, best.pt "
                        "and IIAD calibration chosen on it (Fashion-MNIST IDX data; 0: none, both use the eval "
                        "images)")
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--output", default="runs/vision")
    p.add_argument("--resume", default="", help="checkpoint to resume from (e.g. OUTPUT/last.pt)")
    p.add_argument("--overwrite", action="store_true", help="train into a non-empty --output, replacing its files")
    p.add_argument("--save-interval-steps", type=int, default=0,
                   help="also keep the weights every N steps as OUTPUT/checkpoint_EPOCH_STEP.pt, for diagnostics "
                        "over training (0: none)")
    p.add_argument("--seed", type=int, default=0)
    g = p.add_argument_group("IIAD distillation (E-IIET): the student is the teacher with fewer iterations")
    g.add_argument("--teacher", default="", help="IIET teacher checkpoint written by this script")
    g.add_argument("--iiad-threshold", type=float, default=None, help="keep iterations with influence >= this")
    g.add_argument("--iiad-plan", default=None, help="explicit per-layer plan instead of a threshold")
    g.add_argument("--iiad-score", default="update", choices=("update", "loss"))
    g.add_argument("--iiad-calibration-batches", type=int, default=4)
    g.add_argument("--kd-weight", type=float, default=0.5, help="lambda: (1 - lambda) CE + lambda T^2 KL")
    g.add_argument("--kd-temperature", type=float, default=1.0)
    g = p.add_argument_group("speed (timm's train.py flag names)")
    g.add_argument("--amp", action="store_true", help="mixed precision: autocast the training forward")
    g.add_argument("--amp-dtype", default="float16", choices=("float16", "bfloat16"),
                   help="autocast dtype with --amp (float16 uses a gradient scaler on CUDA)")
    g.add_argument("--compile", "--torchcompile", dest="compile", nargs="?", const="inductor", default=None,
                   metavar="BACKEND", help="torch.compile the training model (fullgraph; backend, default inductor)")
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


def check_args(args) -> None:
    """Refuse bad options before any work (``ConfigError`` naming the option)."""
    for name in ("epochs", "batch_size"):
        if getattr(args, name) < 1:
            raise ConfigError(f"{flag(name)} must be >= 1, got {getattr(args, name)}")
    for name in ("train_limit", "eval_limit", "valid_images"):
        if getattr(args, name) < 0:
            raise ConfigError(f"{flag(name)} must be >= 0 (0: {'none' if name == 'valid_images' else 'all'}), "
                              f"got {getattr(args, name)}")
    if args.save_interval_steps < 0:
        raise ConfigError(f"--save-interval-steps must be >= 0 (0: none), got {args.save_interval_steps}")
    if not args.lr > 0:
        raise ConfigError(f"--lr must be > 0, got {args.lr}")
    if not os.path.exists(args.data):
        raise ConfigError(f"--data: {args.data} does not exist")
    if args.valid_images:
        check_valid_split(args)
    model_kwargs_from(args.model_kwargs, "--model-kwargs")
    if not timm.is_model(args.model):
        raise ConfigError(f"--model: {args.model!r} is not a registered timm model")
    iiad = [flag(k) for k in ("iiad_threshold", "iiad_plan") if getattr(args, k) is not None]
    if args.teacher:
        check_student_request(args.iiad_threshold, args.iiad_plan, args.iiad_score)
        check_kd_options(args.kd_weight, args.kd_temperature)
        if not os.path.isfile(args.teacher):
            raise ConfigError(f"--teacher: {args.teacher} does not exist")
    elif iiad:
        raise ConfigError(f"{', '.join(iiad)}: IIAD options need --teacher")
    if args.resume and not os.path.isfile(args.resume):
        raise ConfigError(f"--resume: {args.resume} does not exist")
    if os.path.isdir(args.output) and os.listdir(args.output) and not (args.resume or args.overwrite):
        raise ConfigError(f"--output: {args.output} is not empty ({', '.join(sorted(os.listdir(args.output))[:4])}); "
                          "pass --resume OUTPUT/last.pt to continue, --overwrite to replace, or another --output")
    if os.path.exists(args.output) and not os.path.isdir(args.output):
        raise ConfigError(f"--output: {args.output} exists and is not a folder")


def check_valid_split(args) -> None:
    """``--valid-images`` needs IDX data with room for it beside the first ``--train-limit`` images."""
    if not is_idx_dir(args.data):
        raise ConfigError(f"--valid-images: needs Fashion-MNIST IDX files in --data; {args.data} is an ImageFolder "
                          "tree (hold out a val/ folder instead)")
    check_holdout(args.data, args.train_limit, args.valid_images)


def resume_changes(saved: dict, args) -> list:
    """Schedule options that differ from the checkpoint's; refuse changed model options."""
    changed_model = [k for k in MODEL_OPTIONS if k in saved and saved[k] != getattr(args, k)]
    if changed_model:
        detail = "; ".join(f"{flag(k)} {saved[k]!r} -> {getattr(args, k)!r}" for k in changed_model)
        raise ConfigError(f"--resume: the checkpoint was trained with other model/optimizer options ({detail}); "
                          "resume with the same options, or start a new run")
    return [k for k in SCHEDULE_OPTIONS if k in saved and saved[k] != getattr(args, k)]


def setup_distributed():
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
        rank = dist.get_rank()
        device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}") if backend == "nccl" else torch.device("cpu")
    else:
        rank = 0
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return world, rank, device


def build_datasets(args):
    """(train, validation or None, eval) datasets; the validation split is the last
    ``--valid-images`` images of the training file, which the training split never reaches."""
    if is_idx_dir(args.data):
        valid = None
        train_rows = slice(None)
        if args.valid_images:
            train_rows = slice(0, count_images(args.data, "train") - args.valid_images)
            valid = IDXImageDataset(args.data, "train", rows=slice(train_rows.stop, None))
        return (IDXImageDataset(args.data, "train", args.train_limit, rows=train_rows), valid,
                IDXImageDataset(args.data, "test", args.eval_limit))
    from torchvision.datasets import ImageFolder
    train_dir, val_dir = os.path.join(args.data, "train"), os.path.join(args.data, "val")
    if not os.path.isdir(train_dir) or not os.path.isdir(val_dir):
        raise SystemExit(f"--data: {args.data} holds neither Fashion-MNIST IDX files nor train/ and val/ folders")
    return ImageFolder(train_dir), None, ImageFolder(val_dir)


def model_kwargs(args, num_classes, in_chans):
    return create_kwargs(vars(args), num_classes, in_chans)


def make_loader(model, dataset, args, device, training: bool, distributed: bool = False):
    """timm's loader with the model's data config (transforms, normalisation)."""
    cfg = resolve_data_config(model=model)
    extra = dict(hflip=0.5, scale=(0.8, 1.0), color_jitter=0.0) if training else {}
    return create_loader(dataset, is_training=training, input_size=cfg["input_size"], batch_size=args.batch_size,
                         mean=cfg["mean"], std=cfg["std"], interpolation=cfg["interpolation"], crop_pct=cfg["crop_pct"],
                         num_workers=args.workers, distributed=distributed, use_prefetcher=False, device=device,
                         persistent_workers=False, **extra)


def build_teacher_and_plan(args, device, calibration_set, num_classes, in_chans):
    """Load the teacher, choose the student's plan (explicit, or a threshold on its influence,
    measured on batches of ``calibration_set``) with the library's IIAD plan choice (the checks
    fairseq's IIAD tasks make)."""
    state = read_checkpoint(args.teacher, "--teacher")
    teacher = model_from_checkpoint(state, num_classes, in_chans)
    teacher.to(device).eval().requires_grad_(False)

    def calibration():
        loader = make_loader(teacher, calibration_set, args, device, training=False)
        return [b for _, b in zip(range(args.iiad_calibration_batches), loader)]
    plan, report = choose_plan(teacher, calibration, args.iiad_threshold, args.iiad_plan, args.iiad_score)
    if report is not None:
        print(f"IIAD {args.iiad_score} scores: {[[round(v, 4) for v in r] for r in report.scores(args.iiad_score)]}")
    teacher_plan = teacher.plan()
    print(f"IIAD student plan {plan} (teacher {teacher_plan}): cost {plan.relative_cost(teacher_plan):.3f} of the "
          f"teacher, {plan.relative_cost(0):.3f} of vanilla")
    # the student is created from the teacher's own model arguments, with the plan
    args.model = state["model_name"]
    args.model_kwargs = state["args"].get("model_kwargs") or "{}"
    for name, value in dict(ode_kwargs(state["args"]), iie_layer_iters=plan.to_string()).items():
        setattr(args, name, value)
    return teacher, state["model"]


def evaluate(model, loader, device, show):
    model.eval()
    top1, top5, loss_m = AverageMeter(), AverageMeter(), AverageMeter()
    with torch.no_grad():
        for images, target in tqdm(loader, desc="eval", disable=not show, leave=False):
            images, target = images.to(device), target.to(device)
            output = model(images)
            loss_m.update(torch.nn.functional.cross_entropy(output, target).item(), images.size(0))
            a1, a5 = accuracy(output, target, topk=(1, min(5, output.size(1))))
            top1.update(a1.item(), images.size(0))
            top5.update(a5.item(), images.size(0))
    return {"loss": loss_m.avg, "top1": top1.avg, "top5": top5.avg}


def train(argv=None):
    args = parse_args(argv)
    check_args(args)
    world, rank, device = setup_distributed()
    torch.manual_seed(args.seed + rank)
    show = rank == 0 and not args.no_progress
    train_set, valid_set, eval_set = build_datasets(args)
    num_classes = len(train_set.classes)
    in_chans = 1 if isinstance(train_set, IDXImageDataset) else 3
    teacher, teacher_state = None, None
    if args.teacher:
        teacher, teacher_state = build_teacher_and_plan(args, device, valid_set or eval_set, num_classes, in_chans)
    model = timm.create_model(args.model, **model_kwargs(args, num_classes, in_chans)).to(device)
    if teacher_state is not None and not args.resume:
        model.load_state_dict(teacher_state)  # the student starts as the teacher, with fewer iterations
    train_loader = make_loader(model, train_set, args, device, training=True, distributed=world > 1)
    eval_loader = make_loader(model, eval_set, args, device, training=False, distributed=world > 1)
    valid_loader = (make_loader(model, valid_set, args, device, training=False, distributed=world > 1)
                    if valid_set is not None else None)
    chosen_on = "valid_top1" if valid_set is not None else "top1"  # what best.pt is chosen on

    resumed, rebuild = None, []
    if args.resume:
        resumed = read_checkpoint(args.resume, "--resume")
        rebuild = resume_changes(resumed["args"], args)
    optimizer = create_optimizer_v2(model, opt=args.opt, lr=args.lr, weight_decay=args.weight_decay)
    scheduler, _ = create_scheduler_v2(optimizer, sched=args.sched, num_epochs=args.epochs,
                                       warmup_epochs=args.warmup_epochs, warmup_lr=args.lr * 0.01,
                                       step_on_epochs=False, updates_per_epoch=len(train_loader))
    criterion = LabelSmoothingCrossEntropy(args.smoothing) if args.smoothing > 0 else torch.nn.CrossEntropyLoss()
    ema = ModelEmaV3(model, decay=args.model_ema_decay) if args.model_ema else None
    start_epoch, step, history, best = 0, 0, [], -1.0
    if resumed is not None:
        state = resumed
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if rebuild:
            # the schedule of the new options, continued at the saved step
            scheduler.step_update(num_updates=state["step"])
            if rank == 0:
                changes = ", ".join(f"{flag(k)} {state['args'][k]} -> {getattr(args, k)}" for k in rebuild)
                print(f"resume: {changes}: the learning-rate schedule is rebuilt from the new options "
                      f"({args.sched} over {args.epochs} epochs) and continues at step {state['step']}")
        else:
            scheduler.load_state_dict(state["scheduler"])
        if ema is not None and state.get("ema") is not None:
            ema.load_state_dict(state["ema"])
        start_epoch, step, history, best = state["epoch"] + 1, state["step"], state["history"], state["best_top1"]
        if rank == 0:
            print(f"resumed from {args.resume}: epoch {state['epoch']}, step {step}, best top-1 {best:.2f}")
        if start_epoch >= args.epochs and rank == 0:
            print(f"resume: the checkpoint already finished epoch {state['epoch']} of --epochs {args.epochs}; "
                  "nothing to train (raise --epochs to continue)")
    train_model = DDP(model) if world > 1 else model
    if args.compile:
        train_model = torch.compile(train_model, backend=args.compile, fullgraph=world == 1)
    low_dtype = amp_dtype(args.amp_dtype) if args.amp else None
    if low_dtype is not None and rank == 0 and not native_low_precision(low_dtype, device):
        print(f"--amp --amp-dtype {args.amp_dtype}: this {device.type} has no native {args.amp_dtype} matmul "
              f"(it is emulated and usually slower than fp32); training as asked", flush=True)
    scaler = torch.amp.GradScaler("cuda") if low_dtype == torch.float16 and device.type == "cuda" else None
    os.makedirs(args.output, exist_ok=True)

    for epoch in range(start_epoch, args.epochs):
        if world > 1 and hasattr(train_loader.sampler, "set_epoch"):
            train_loader.sampler.set_epoch(epoch)
        train_model.train()
        loss_m, t0, lr_start = AverageMeter(), time.perf_counter(), None
        bar = tqdm(train_loader, desc=f"epoch {epoch}", disable=not show)
        for images, target in bar:
            images, target = images.to(device), target.to(device)
            with autocast(device, low_dtype):
                logits = train_model(images)
                loss = criterion(logits, target)
                if teacher is not None:
                    with torch.no_grad():
                        teacher_logits = teacher(images)
                    kl = kd_divergence(logits.float(), teacher_logits.float(), args.kd_temperature,
                                       reduction="batchmean")
                    loss = kd_loss(loss, kl, args.kd_weight, args.kd_temperature)
            if lr_start is None:
                lr_start = optimizer.param_groups[0]["lr"]
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            step += 1
            scheduler.step_update(num_updates=step)
            if rank == 0 and args.save_interval_steps and step % args.save_interval_steps == 0:
                save_checkpoint({"model": model.state_dict(), "epoch": epoch, "step": step, "args": vars(args),
                                 "model_name": args.model},
                                os.path.join(args.output, f"checkpoint_{epoch}_{step}.pt"))
            if ema is not None:
                ema.update(model, step=step)
            loss_m.update(loss.item(), images.size(0))
            bar.set_postfix(loss=f"{loss_m.avg:.3f}", lr=f"{optimizer.param_groups[0]['lr']:.2e}")
        scheduler.step(epoch + 1)
        metrics = evaluate(model, eval_loader, device, show)
        if valid_loader is not None:
            metrics.update({f"valid_{k}": v for k, v in evaluate(model, valid_loader, device, show).items()})
        if ema is not None:
            metrics["ema_top1"] = evaluate(ema.module, eval_loader, device, show)["top1"]
        metrics.update(epoch=epoch, step=step, train_loss=loss_m.avg, lr_start=lr_start,
                       epoch_s=time.perf_counter() - t0)
        history.append(metrics)
        if rank == 0:
            print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items()}), flush=True)
            state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "scheduler": scheduler.state_dict(), "ema": ema.state_dict() if ema is not None else None,
                     "epoch": epoch, "step": step, "history": history, "best_top1": max(best, metrics[chosen_on]),
                     "args": vars(args), "model_name": args.model}
            save_checkpoint(state, os.path.join(args.output, "last.pt"))
            if metrics[chosen_on] > best:
                best = metrics[chosen_on]
                save_checkpoint(state, os.path.join(args.output, "best.pt"))
    if rank == 0:
        text = json.dumps(history, indent=1)
        atomic_write(os.path.join(args.output, "history.json"), lambda f: f.write(text.encode("utf-8")))
    if world > 1:
        dist.destroy_process_group()
    return history


def main(argv=None) -> None:
    """The console script ``iiet-vit-train`` (``train`` returns the metric history)."""
    train(argv)


if __name__ == "__main__":
    main()
