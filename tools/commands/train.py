"""``dftag train``: train a face real/fake detector on a split dataset, with validation, checkpoints and resume."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dftag.core.errors import DftagError
from dftag.core.io import read_json
from dftag.core.outputs import check_outputs, into
from dftag.detector.device import DEVICES
from dftag.tools.commands._common import (
    Number,
    add_parser,
    dataset_inputs,
    nonnegative_float,
    nonnegative_int,
    positive_float,
    positive_int,
    probability,
)
from dftag.training.augment import AugmentConfig
from dftag.training.config import (
    DEFAULT_MODEL,
    MODEL_DEFAULTS,
    MODELS,
    OPTIMIZERS,
    TWO_STAGE,
    TWO_STAGE_DETECTOR,
    ClassifierConfig,
    TrainConfig,
)
from dftag.training.crops import CROP_AUGMENTS, FAKE_SOURCES
from dftag.training.run_folder import CONFIG_FILE
from dftag.training.train import resume_config, train


def _defaults_table() -> str:
    rows = [f"  {arch:<13} size {d.image_size}, batch {d.batch_size}, {d.optimizer} lr {d.lr:g}, "
            f"weight decay {d.weight_decay:g}, {d.epochs} epochs" for arch, d in MODEL_DEFAULTS.items()]
    return "\n".join(rows)


DESCRIPTION = f"""\
Train a face detector that tags every face real or fake, on DATASET's train.json, validating after every epoch
on val.json (run 'dftag split' first). Writes RUN/config.json, RUN/metrics.csv (one row per epoch: losses,
per-class AP50 and COCO mAP on val), RUN/last.pt and RUN/best.pt (highest val mAP). The default two-stage
model then trains its crop classifier on the same split (RUN/classifier_metrics.csv, RUN/classifier_last.pt)
and puts it into best.pt and last.pt; see docs/training.md.

Training augments every image (zoom-out, face-safe crop, flip, rotation, scale, brightness/contrast, blur,
JPEG; see docs/training.md and --augment) and can turn real faces into self-blended fakes (--self-blend).
A loss that becomes NaN or infinite stops the run with an error naming the epoch and step.

--resume continues RUN exactly where last.pt left off (also after a crash or kill): the settings come from
RUN/config.json; only --epochs (to extend a run: the cosine schedule then spans the new total), --workers,
--device and --data (a moved dataset) may change. With --seed on CPU the result equals an uninterrupted run's.

Multi-GPU or multi-node: start the same command with torchrun (NCCL on GPUs, gloo on CPUs); --batch-size is
per process.

Defaults per model (flags override):
{_defaults_table()}
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_parser(sub, "train", help="train the face real/fake detector", description=DESCRIPTION, examples=[
        "dftag train --data data/ds --out runs/mnv2",
        "dftag train --data data/ds --model ssdlite-mnv2 --epochs 20 --self-blend 0.3 --balanced --out runs/sbi",
        "dftag train --data data/ds --out runs/mnv2 --resume                # continue after a crash",
        "dftag train --data data/ds --out runs/mnv2 --resume --epochs 30    # extend a finished run",
        "dftag train --data data/ds --out runs/ft --init runs/mnv2/best.pt --lr 5e-4 --augment aug.json",
        "torchrun --nproc-per-node 4 -m dftag train --data data/ds --out runs/ddp --device cuda",
    ])
    p.add_argument("--data", required=True, metavar="DATASET", help="dataset folder with train.json and val.json")
    p.add_argument("--out", required=True, metavar="RUN", help="run folder for config, metrics and checkpoints")
    p.add_argument("--model", choices=MODELS, default=None,
                   help=f"{TWO_STAGE}: the {TWO_STAGE_DETECTOR} SSD finds faces and a crop classifier tags each "
                        f"face from the full-resolution frame; the others are single-stage SSDs that tag faces "
                        f"themselves (default: {DEFAULT_MODEL})")
    p.add_argument("--epochs", type=positive_int, help="total number of epochs (default: per model)")
    p.add_argument("--resume", action="store_true", help="continue the run in RUN from its last.pt")
    p.add_argument("--image-size", type=positive_int, help="square network input side in pixels (default: per model)")
    p.add_argument("--batch-size", type=Number(int, 2), help="images per step and process (default: per model)")
    p.add_argument("--lr", type=positive_float, help="peak learning rate (default: per model)")
    p.add_argument("--weight-decay", type=nonnegative_float, help="weight decay of non-bias, non-norm weights (default: per model)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, help="optimizer (default: per model)")
    p.add_argument("--warmup-epochs", type=nonnegative_float, help="linear learning-rate warm-up, in epochs (default: per model)")
    p.add_argument("--grad-clip", type=positive_float, help="maximum gradient L2 norm (default: 10)")
    p.add_argument("--workers", type=nonnegative_int, help="DataLoader worker processes (default: 2; 0 = load in-process)")
    p.add_argument("--device", choices=DEVICES, help="auto = CUDA when available (default)")
    p.add_argument("--seed", type=nonnegative_int, help="seed of initialisation, data order and augmentation (default: 0)")
    p.add_argument("--init", metavar="PATH", help="start from the weights of a dftag checkpoint or state dict")
    p.add_argument("--no-pretrained", dest="pretrained", action="store_const", const=False,
                   help="do not use ImageNet backbone weights (random initialisation)")
    p.add_argument("--self-blend", type=probability, metavar="P",
                   help="probability of turning each real face into a self-blended fake (default: 0)")
    p.add_argument("--balanced", action="store_const", const=True,
                   help="sample images by their rarest class (real, fake, no face) instead of uniformly")
    p.add_argument("--augment", metavar="JSON", help="augmentation settings (fields of AugmentConfig in "
                                                     "docs/training.md; missing ones keep their defaults)")
    p.add_argument("--no-augment", action="store_true", help="train on resized images only")
    crops = p.add_argument_group(f"crop classifier ({TWO_STAGE} only)")
    default = ClassifierConfig()
    crops.add_argument("--classifier-epochs", type=positive_int, metavar="N",
                       help=f"epochs of the crop classifier after the SSD (default: {default.epochs})")
    crops.add_argument("--crop-size", type=positive_int, metavar="PX",
                       help=f"square face crop side in pixels (default: {default.crop_size})")
    crops.add_argument("--crop-margin", type=nonnegative_float, metavar="F",
                       help=f"margin around the face box, fraction of its side per side (default: {default.margin})")
    crops.add_argument("--fakes", choices=FAKE_SOURCES,
                       help="what the classifier learns fakes from: 'pairs' (each dataset fake beside its own "
                            "original, cropped with the original's box), 'sbi' (self-blended copies of every real "
                            f"face) or 'both' (default: {default.fake_source})")
    crops.add_argument("--lower-face", type=probability, metavar="P",
                       help="share of self-blended fakes blended over the lower face only, as lip-sync tools "
                            f"change it (default: {default.lower_face:.3g})")
    crops.add_argument("--crop-augment", choices=CROP_AUGMENTS,
                       help="augmentation of the crop pairs: 'jitter' (box jitter, flip, JPEG) or 'dfdc' (also "
                            "the DFDC winner's colour, grey, noise, blur and affine steps; default: "
                            f"{default.crop_augment})")
    crops.add_argument("--sam-rho", type=nonnegative_float, metavar="R",
                       help="train the classifier with sharpness-aware minimisation of this radius, as SBI does "
                            f"(two passes a step; 0: plain AdamW; default: {default.sam_rho:g})")
    crops.add_argument("--flip-average", action=argparse.BooleanOptionalAction,
                       help="the classifier's fake logit is the mean over each crop and its mirror image, in "
                            f"validation and inference (default: {'on' if default.flip_average else 'off'})")
    p.set_defaults(func=run)


def augment_config(args: argparse.Namespace) -> AugmentConfig | None:
    """The augmentation settings from ``--augment`` / ``--no-augment`` (``None`` = not given)."""
    if args.no_augment:
        return AugmentConfig(**{k: 0.0 for k in AugmentConfig.__dataclass_fields__ if k.endswith("_p")})
    if args.augment is None:
        return None
    values = read_json(args.augment)
    if not isinstance(values, dict):
        raise DftagError("augmentation settings must be a JSON object", args.augment)
    try:
        return AugmentConfig.from_dict(values)
    except KeyError as err:
        raise DftagError(f"unknown augmentation settings: {err.args[0]}", args.augment) from None
    except (TypeError, ValueError) as err:
        raise DftagError(f"bad augmentation settings: {err}", args.augment) from None


def check_ranges(config: TrainConfig) -> None:
    """The settings the parser cannot check alone (a resumed run's, or a size that depends on the model)."""
    from dftag.detector.models import ARCH_SPECS

    min_size = ARCH_SPECS[config.arch].min_image_size
    problems = [(config.epochs >= 1, "--epochs must be at least 1"),
                (config.image_size >= min_size,
                 f"--image-size must be at least {min_size} for {config.arch}, got {config.image_size}"),
                (config.grad_clip > 0, "--grad-clip must be positive"),
                (config.batch_size >= 2, "--batch-size must be at least 2 (batch norm)"),
                (config.lr > 0, "--lr must be positive"),
                (config.workers >= 0, "--workers cannot be negative"),
                (0 <= config.self_blend <= 1, "--self-blend must be a probability in 0..1")]
    for ok, message in problems:
        if not ok:
            raise DftagError(message)


def run(args: argparse.Namespace) -> int:
    from dftag.eval.report import fmt

    check_outputs([into(args.out)], [*dataset_inputs(args.data, "train", "val"), args.init])

    settings = {"data": args.data, "epochs": args.epochs, "image_size": args.image_size,
                "batch_size": args.batch_size, "lr": args.lr, "weight_decay": args.weight_decay,
                "optimizer": args.optimizer, "warmup_epochs": args.warmup_epochs, "grad_clip": args.grad_clip,
                "workers": args.workers, "device": args.device, "seed": args.seed, "init": args.init,
                "pretrained": args.pretrained, "self_blend": args.self_blend, "balanced": args.balanced,
                "augment": augment_config(args)}
    classifier = {"epochs": args.classifier_epochs, "crop_size": args.crop_size, "margin": args.crop_margin,
                  "fake_source": args.fakes, "lower_face": args.lower_face, "crop_augment": args.crop_augment,
                  "sam_rho": args.sam_rho, "flip_average": args.flip_average}
    if args.resume:
        if not (Path(args.out) / CONFIG_FILE).exists():
            raise DftagError(f"nothing to resume: no {CONFIG_FILE}", args.out)
        config = resume_config(Path(args.out), settings, model=args.model, classifier=classifier)
    else:
        config = TrainConfig.for_model(args.model or DEFAULT_MODEL, out=args.out, classifier=classifier, **settings)
    check_ranges(config)
    history = train(config, resume=args.resume,
                    warn=lambda message: print(f"dftag train: warning: {message}", file=sys.stderr, flush=True))
    if history:
        best = max(history, key=lambda row: row.get("val_mAP", float("-inf")))
        print(f"trained {history[-1]['epoch']} epochs; best val mAP {fmt(best.get('val_mAP'))} "
              f"(AP50 real {fmt(best.get('val_AP50_real'))}, fake {fmt(best.get('val_AP50_fake'))}) "
              f"at epoch {best['epoch']}; run in {args.out}")
    return 0
