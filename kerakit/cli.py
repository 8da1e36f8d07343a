"""The `kerakit` command.

```
kerakit train                                   # the default job: convnet on the bundled digits, exported
kerakit train --blueprint mlp --data tfds:mnist --epochs 5 --arg hidden_units=512,256
kerakit list 'lenet*'
kerakit export runs/convnet-digits
kerakit info
kerakit tune --blueprint convnet --data digits --tuner hyperband --max-epochs 20
kerakit train --blueprint gpt_nano --data text           # a byte-level GPT on the bundled text
kerakit generate runs/gpt_nano-text --prompt "ROMEO:" --sampler top_k --seed 0
kerakit lr-find --blueprint convnet --data digits --out lr_find.png   # learning-rate range test
kerakit distill --teacher runs/convnet-digits --student mlp --temperature 4 --alpha 0.1 --epochs 20
kerakit doctor --blueprint convnet --data digits --tiny --lr 0.01
```

User errors (a bad name, value or path) print one line and exit with status 2, without a traceback.
"""

import argparse
import ast
import inspect
import os
import sys

EXIT_USER_ERROR = 2
EXIT_TRAINING_FAILED = 1


def _train_defaults():
    """`kerakit.train`'s own defaults, so that the CLI and the Python API never drift apart."""
    from kerakit import training

    return {k: p.default for k, p in inspect.signature(training.train).parameters.items()}


def _parse_key_value(text):
    """`"filters=16,32"` -> `("filters", (16, 32))`; values are Python literals, or strings."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, received {text!r}")
    key, raw = text.split("=", 1)
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    return key.strip(), value


def _add_model_and_data_arguments(parser, blueprint, data):
    """The flags that choose the model and the data, alike in train, distill, lr-find and doctor."""
    parser.add_argument("--blueprint", default=blueprint, help="blueprint name (see `kerakit list`). "
                        "Default: %(default)s")
    parser.add_argument("--data", default=data, help="a bundled dataset ('digits', 'text', 'karate', 'sbm', "
                        "'graphs', 'sbm_links'), 'text:<file>' or 'tfds:<name>[/<config>]'. Default: %(default)s")
    parser.add_argument("--arg", action="append", type=_parse_key_value, default=[], metavar="KEY=VALUE",
                        help="blueprint argument, repeatable: --arg filters=16,32 --arg dropout=0.2")
    parser.add_argument("--data-arg", action="append", type=_parse_key_value, default=[], metavar="KEY=VALUE",
                        help="kerakit.data.load argument, repeatable: --data-arg validation_fraction=0.1")
    parser.add_argument("--tfds-data-dir", help="TFDS data directory (default: TFDS's own)")


def _data_args(args):
    """`kerakit.data.load` arguments from --data-arg, --tfds-data-dir and (where the command has it) --tfds-download."""
    data_args = dict(args.data_arg)
    if args.tfds_data_dir:
        data_args["data_dir"] = args.tfds_data_dir
    if getattr(args, "tfds_download", False):
        data_args["download"] = True
    return data_args


def _add_train_arguments(parser):
    from kerakit.optimizers import OPTIMIZERS
    from kerakit.schedules import SCHEDULES

    d = _train_defaults()
    _add_model_and_data_arguments(parser, d["model"], d["data"])
    parser.add_argument("--epochs", type=int, default=d["epochs"], help="Default: %(default)s")
    parser.add_argument("--batch-size", type=int, default=d["batch_size"], help="Default: %(default)s")
    parser.add_argument("--optimizer", default=d["optimizer"], help=f"one of {', '.join(OPTIMIZERS)}. "
                        "Default: %(default)s")
    parser.add_argument("--optimizer-arg", action="append", type=_parse_key_value, default=[], metavar="KEY=VALUE",
                        help="Keras optimizer argument, repeatable: --optimizer-arg beta_1=0.5")
    parser.add_argument("--lr", "--learning-rate", dest="learning_rate", type=float, default=d["learning_rate"],
                        help="base (peak) learning rate. Default: %(default)s")
    parser.add_argument("--schedule", default=d["schedule"], help=f"one of {', '.join(SCHEDULES)} (plateau: "
                        "ReduceLROnPlateau on val_loss). Default: %(default)s")
    parser.add_argument("--schedule-arg", dest="schedule_args", action="append", type=_parse_key_value, default=[],
                        metavar="KEY=VALUE", help="schedule argument, repeatable: gamma, step_epochs, min_lr_ratio, "
                        "pct_start, div_factor, final_div_factor, anneal (one_cycle), patience (plateau)")
    parser.add_argument("--warmup-epochs", type=float, default=d["warmup_epochs"],
                        help="linear warmup of the cosine schedule. Default: a tenth of the run, at most 1")
    parser.add_argument("--weight-decay", type=float, default=d["weight_decay"], help="decoupled weight decay")
    parser.add_argument("--clipnorm", type=float, default=d["clipnorm"], help="clip each gradient to this norm")
    parser.add_argument("--clipvalue", type=float, default=d["clipvalue"], help="clip each gradient entry to +-this")
    parser.add_argument("--global-clipnorm", type=float, default=d["global_clipnorm"],
                        help="clip all gradients together to this norm")
    parser.add_argument("--grad-accum-steps", dest="gradient_accumulation_steps", type=int,
                        default=d["gradient_accumulation_steps"], metavar="K",
                        help="update once every K batches with their averaged gradients")
    parser.add_argument("--ema", dest="use_ema", action="store_true",
                        help="keep a moving average of the weights; the trained model holds it")
    parser.add_argument("--ema-momentum", type=float, default=d["ema_momentum"], help="Default: Keras's 0.99")
    from kerakit.losses import LOSSES

    parser.add_argument("--loss", default=d["loss"], help=f"one of {', '.join(LOSSES)}, or a Keras loss name. "
                        "Default: chosen from the task")
    parser.add_argument("--label-smoothing", type=float, default=d["label_smoothing"],
                        help="label smoothing of the classification loss. Default: %(default)s")
    parser.add_argument("--class-weight", type=_parse_class_weight, default=d["class_weight"],
                        metavar="balanced|{0: 1.0, ...}", help="loss weight per class: 'balanced' (from the "
                        "training labels) or a dict")
    parser.add_argument("--dropout", type=float, default=d["dropout"], help="the blueprint's dropout rate")
    parser.add_argument("--drop-path-rate", type=float, default=d["drop_path_rate"],
                        help="the blueprint's stochastic-depth rate")
    parser.add_argument("--precision", default=d["precision"],
                        help="float32, mixed_float16 (with loss scaling) or mixed_bfloat16. Default: %(default)s")
    parser.add_argument("--remat", action="store_true",
                        help="rematerialise activations in the backward pass (keras.RematScope)")
    parser.add_argument("--seed", type=int, default=d["seed"], help="Default: %(default)s")
    parser.add_argument("--early-stopping", type=int, default=d["early_stopping"], metavar="PATIENCE",
                        help="patience in epochs on val_loss, 0 = off. Default: %(default)s")
    parser.add_argument("--devices", default=d["devices"], help="data parallel: 'all', a count, or names")
    parser.add_argument("--coordinator", default=d["coordinator"], metavar="HOST:PORT",
                        help="multi-process (multi-host) JAX job: process 0's address, the same on every process "
                             "(default: $KERAS_DISTRIBUTION_JOB_ADDRESSES)")
    parser.add_argument("--num-processes", type=int, default=d["num_processes"], metavar="N",
                        help="processes in the job (default: $KERAS_DISTRIBUTION_NUM_PROCESSES, else 1)")
    parser.add_argument("--process-id", type=int, default=d["process_id"], metavar="I",
                        help="this process, 0 to N-1; 0 writes the run folder (default: "
                             "$KERAS_DISTRIBUTION_PROCESS_ID)")
    parser.add_argument("--run-dir", default=d["run_dir"], help="run folder (default: <runs-root>/<model>-<data>)")
    parser.add_argument("--runs-root", default=d["runs_root"], help="Default: %(default)s")
    parser.add_argument("--overwrite", action="store_true", help="replace a complete run in --run-dir")
    parser.add_argument("--tensorboard", action="store_true", help="write TensorBoard logs")
    parser.add_argument("--no-export", dest="export", action="store_false", help="skip the SavedModel export")
    parser.add_argument("--tfds-download", action="store_true", help="let TFDS download and prepare the data")
    parser.add_argument("--init-from", default=d["init_from"], metavar="PATH",
                        help="transfer learning: start from a .keras model or a run folder (layers matched by name)")
    parser.add_argument("--freeze-epochs", type=int, default=d["freeze_epochs"], metavar="N",
                        help="transfer learning: train only the head for N epochs, then fine-tune. Default: %(default)s")
    parser.add_argument("--unfreeze-stages", type=_parse_stages, default=d["unfreeze_stages"], metavar="N|all",
                        help="stages (from the top) that fine-tune after the frozen epochs. Default: %(default)s")
    parser.add_argument("--fine-tune-lr-factor", type=float, default=d["fine_tune_lr_factor"], metavar="F",
                        help="learning-rate multiplier after the frozen epochs. Default: %(default)s")
    parser.add_argument("--augment", default=d["augment"], metavar="PRESET",
                        help="image augmentation: none, crop, flip, flip_crop, randaugment, mixup, cutmix, strong, or "
                        "operations joined by '+' (crop+randaugment+mixup). Default: %(default)s")
    parser.add_argument("--lora-rank", type=int, default=d["lora_rank"], metavar="R",
                        help="LoRA fine-tuning: only rank-R updates of the attention query/value projections train "
                        "(usually with --init-from)")
    parser.add_argument("--quantize", default=d["quantize"], choices=("int8",),
                        help="QLoRA-style fine-tuning: int8 Dense/EinsumDense/Embedding kernels, frozen, under "
                        "--lora-rank updates (required)")
    parser.add_argument("--sample-every", type=int, default=d["sample_every"], metavar="N",
                        help="generative models: a PNG grid of samples every N epochs in <run>/samples (0: only the "
                        "final samples.png). Default: %(default)s")
    parser.add_argument("--config", help="re-run the settings of a run's config.json (other flags are ignored)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _parse_class_weight(text):
    if text == "balanced":
        return text
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise argparse.ArgumentTypeError(f"expected 'balanced' or a dict such as '{{0: 1.0, 1: 3.0}}', received "
                                         f"{text!r}") from None


def _parse_stages(text):
    return int(text) if text.isdigit() else text


def _parse_devices(text):
    if text is None or text == "all":
        return text
    if text.isdigit():
        return int(text)
    return text.split(",")


def _command_train(args):
    from kerakit import training

    verbose = 0 if args.quiet else "auto"
    if args.config:
        result = training.train_from_config(args.config, verbose=verbose)
    else:
        data_args = _data_args(args)
        result = training.train(
            args.blueprint, args.data, epochs=args.epochs, batch_size=args.batch_size, optimizer=args.optimizer,
            learning_rate=args.learning_rate, schedule=args.schedule, warmup_epochs=args.warmup_epochs,
            weight_decay=args.weight_decay, loss=args.loss, seed=args.seed, run_dir=args.run_dir,
            runs_root=args.runs_root, overwrite=args.overwrite, early_stopping=args.early_stopping or None,
            tensorboard=args.tensorboard, devices=_parse_devices(args.devices), export=args.export,
            coordinator=args.coordinator, num_processes=args.num_processes, process_id=args.process_id,
            verbose=verbose, blueprint_args=dict(args.arg), data_args=data_args, init_from=args.init_from,
            freeze_epochs=args.freeze_epochs, unfreeze_stages=args.unfreeze_stages,
            fine_tune_lr_factor=args.fine_tune_lr_factor, augment=args.augment, lora_rank=args.lora_rank,
            quantize=args.quantize,
            sample_every=args.sample_every, optimizer_args=dict(args.optimizer_arg),
            schedule_args=dict(args.schedule_args), clipnorm=args.clipnorm, clipvalue=args.clipvalue,
            global_clipnorm=args.global_clipnorm, gradient_accumulation_steps=args.gradient_accumulation_steps,
            use_ema=args.use_ema, ema_momentum=args.ema_momentum, label_smoothing=args.label_smoothing,
            class_weight=args.class_weight, dropout=args.dropout, drop_path_rate=args.drop_path_rate,
            precision=args.precision, remat=args.remat,
        )
    metrics = ", ".join(f"{k} {v:.4f}" for k, v in result.test_metrics.items())
    print(f"test: {metrics}")
    print(f"trained {len(result.history.get('loss', []))} epochs in {result.seconds:.1f} s"
          f"{' (resumed)' if result.resumed else ''}")
    print(f"run folder: {result.run_dir}")
    if result.saved_model:
        print(f"SavedModel (verified): {result.saved_model}")
    return 0


def _command_distill(args):
    from kerakit import distillation, errors, training

    if args.config:
        raise errors.invalid("distill", "--config", "absent (re-run a distillation with its flags)", args.config)
    if args.teacher is None:
        raise errors.invalid("distill", "--teacher", "a run folder or a .keras file (the trained teacher)", None)
    accepted = set(inspect.signature(training.train).parameters) - {"model", "data", "blueprint_args", "data_args",
                                                                    "optimizer_args", "devices", "verbose",
                                                                    "early_stopping"}
    data_args = _data_args(args)
    train_arguments = {k: dict(v) if isinstance(v, list) else v  # repeatable KEY=VALUE flags
                       for k, v in vars(args).items() if k in accepted and v is not None}
    result = distillation.distill(
        args.teacher, args.blueprint, args.data, temperature=args.temperature, alpha=args.alpha,
        blueprint_args=dict(args.arg), data_args=data_args, optimizer_args=dict(args.optimizer_arg),
        devices=_parse_devices(args.devices), early_stopping=args.early_stopping or None,
        verbose=0 if args.quiet else "auto", **train_arguments)
    metrics = ", ".join(f"{k} {v:.4f}" for k, v in result.test_metrics.items())
    print(f"student test: {metrics}")
    print(f"run folder: {result.run_dir}")
    if result.saved_model:
        print(f"SavedModel of the student (verified): {result.saved_model}")
    return 0


def _command_lr_find(args):
    from kerakit.lr_finder import find_learning_rate

    data_args = _data_args(args)
    result = find_learning_rate(
        args.blueprint, args.data, optimizer=args.optimizer, start_lr=args.start_lr, end_lr=args.end_lr,
        steps=args.steps, batch_size=args.batch_size, loss=args.loss, divergence=args.divergence, seed=args.seed,
        plot=args.out, blueprint_args=dict(args.arg), optimizer_args=dict(args.optimizer_arg), data_args=data_args)
    ending = "the loss diverged" if result.diverged else f"reached {result.lrs[-1]:.3g}"
    print(f"swept {len(result.lrs)} steps from {result.lrs[0]:.3g} ({ending}); lowest smoothed loss at "
          f"{result.min_loss_lr:.3g}")
    print(f"suggested learning rate: {result.suggestion:.3g} (steepest descent of the smoothed loss)")
    print(f"plot: {result.plot}")
    return 0


def _command_doctor(args):
    from kerakit.doctor import doctor

    report = doctor(args.blueprint, args.data, learning_rate=args.learning_rate, optimizer=args.optimizer,
                    loss=args.loss, batch_size=args.batch_size, overfit_examples=args.overfit_examples,
                    overfit_steps=args.overfit_steps, generalise_steps=args.generalise_steps, tiny=args.tiny,
                    blueprint_args=dict(args.arg), data_args=_data_args(args), seed=args.seed,
                    plot=args.plot or None)
    print(report)
    return 0 if report.ok else EXIT_TRAINING_FAILED


def _command_list(args):
    from kerakit.registry import get_blueprint, list_blueprints

    names = list_blueprints(args.pattern, family=args.family, task=args.task)
    if not names:
        print(f"no blueprint matches {args.pattern!r}", file=sys.stderr)
        return 1
    rows = [(n, get_blueprint(n).family, get_blueprint(n).task, get_blueprint(n).description) for n in names]
    widths = [max(len(r[i]) for r in rows + [("name", "family", "task", "")]) for i in range(3)]
    print(f"{'name':<{widths[0]}}  {'family':<{widths[1]}}  {'task':<{widths[2]}}  description")
    for row in rows:
        print(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}")
    return 0


def _command_export(args):
    from kerakit.export import export_path

    report = export_path(args.source, args.out, overwrite=args.overwrite)
    print(f"SavedModel (verified, max abs difference {report.max_abs_diff:.2e}): {report.path}")
    return 0


def _command_generate(args):
    from kerakit.export import load_keras_model
    from kerakit.generation import generate

    path = os.path.join(args.source, "model.keras") if os.path.isdir(args.source) else args.source
    model = load_keras_model(path)
    prompt = [int(i) for i in args.ids.split(",")] if args.ids else args.prompt
    output = generate(model, prompt, args.max_new_tokens, sampler=args.sampler, temperature=args.temperature,
                      top_k=args.top_k, top_p=args.top_p, seed=args.seed)
    print(output if isinstance(output, str) else ",".join(map(str, output[0])))
    return 0


def _command_sample(args):
    import inspect

    from kerakit import errors
    from kerakit.export import load_keras_model
    from kerakit.plots import save_image_grid

    errors.check_int("sample", "n", args.n)
    path = os.path.join(args.source, "model.keras") if os.path.isdir(args.source) else args.source
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(path)), "sample_grid.png")
    model = load_keras_model(path)
    if not hasattr(model, "generate") or not hasattr(model, "generating_network"):
        raise errors.invalid("sample", "source", "a generative run or model (VAE, GAN, diffusion)",
                             f"{args.source} ({type(model).__name__} {model.name!r})")
    options = {"labels": [int(i) for i in args.labels.split(",")] if args.labels else None, "sampler": args.sampler,
               "steps": args.steps, "eta": args.eta, "guidance": args.guidance}
    accepted = inspect.signature(model.generate).parameters
    options = {k: v for k, v in options.items() if v is not None}
    refused = sorted(set(options) - set(accepted))
    if refused:
        raise errors.invalid("sample", f"--{refused[0]}", f"an option {type(model).__name__}.generate takes "
                             f"({', '.join(sorted(set(accepted) - {'n', 'seed'}))})", options[refused[0]])
    if "progress" in accepted:
        options["progress"] = True
    images = model.generate(args.n, seed=args.seed, **options)
    save_image_grid(images, out, title=f"{model.name}: {args.n} samples (seed {args.seed})")
    print(f"{args.n} samples: {out}")
    return 0


def _command_info(args):
    import platform

    import keras

    from kerakit import __version__
    from kerakit.distribute import local_devices

    backend = keras.backend.backend()
    print(f"kerakit  {__version__}")
    print(f"keras    {keras.__version__}")
    print(f"python   {platform.python_version()}")
    print(f"backend  {backend}  (set KERAS_BACKEND=tensorflow|jax, or kerakit --backend)")
    if backend == "jax":
        import jax

        print(f"jax      {jax.__version__}")
    try:
        import tensorflow as tf

        print(f"tensorflow {tf.__version__}")
    except ImportError:
        print("tensorflow not installed (needed for tf.data and SavedModel export)")
    print(f"devices  {', '.join(local_devices())}")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="kerakit", description="Keras 3 blueprints: build, train, export.")
    parser.add_argument("--backend", choices=("tensorflow", "jax"),
                        help="Keras backend for this command (default: $KERAS_BACKEND, else Keras's default)")
    commands = parser.add_subparsers(dest="command")
    train = commands.add_parser("train", help="train a blueprint on a dataset, evaluate, export",
                                description="Train a blueprint on a dataset; write a run folder with the config, "
                                "status, model.keras, a verified SavedModel, history, metrics and curves.png.")
    _add_train_arguments(train)
    train.set_defaults(handler=_command_train)
    listing = commands.add_parser("list", help="list the registered blueprints")
    listing.add_argument("pattern", nargs="?", default="*", help="glob, e.g. 'resnet*'")
    listing.add_argument("--family")
    listing.add_argument("--task")
    listing.set_defaults(handler=_command_list)
    export = commands.add_parser("export", help="export a run folder or .keras file as a verified SavedModel")
    export.add_argument("source", help="a run folder (with model.keras) or a .keras file")
    export.add_argument("--out", help="destination folder (default: <run>/saved_model or <stem>_saved_model)")
    export.add_argument("--overwrite", action="store_true", help="replace an existing destination")
    export.set_defaults(handler=_command_export)
    from kerakit.generation import SAMPLERS

    generate = commands.add_parser("generate", help="continue a prompt with a trained language model")
    generate.add_argument("source", help="a run folder (with model.keras) or a .keras file")
    prompts = generate.add_mutually_exclusive_group()
    prompts.add_argument("--prompt", default="\n", help="text prompt (byte vocabularies). Default: a newline")
    prompts.add_argument("--ids", help="prompt as comma-separated token ids")
    generate.add_argument("--max-new-tokens", type=int, default=200, help="Default: %(default)s")
    generate.add_argument("--sampler", default="top_k", choices=SAMPLERS, help="Default: %(default)s")
    generate.add_argument("--temperature", type=float, default=1.0, help="Default: %(default)s")
    generate.add_argument("--top-k", type=int, default=40, help="Default: %(default)s")
    generate.add_argument("--top-p", type=float, default=0.9, help="Default: %(default)s")
    generate.add_argument("--seed", type=int, default=None, help="same seed, same text")
    generate.set_defaults(handler=_command_generate)
    sample = commands.add_parser("sample", help="write a PNG grid of samples from a trained generative model",
                                 description="Draw samples from a VAE, GAN or diffusion run (or .keras file) and "
                                 "write them as a PNG grid.")
    sample.add_argument("source", help="a run folder (with model.keras) or a .keras file")
    sample.add_argument("--n", type=int, default=64, help="number of samples. Default: %(default)s")
    sample.add_argument("--seed", type=int, default=0, help="same seed, same samples. Default: %(default)s")
    sample.add_argument("--out", help="the PNG to write (default: sample_grid.png beside the model)")
    sample.add_argument("--labels", help="class-conditional models: comma-separated class ids, cycled over --n")
    sample.add_argument("--sampler", help="diffusion: ddim or ddpm (default: the model's)")
    sample.add_argument("--steps", type=int, help="diffusion: sampling steps (DDIM)")
    sample.add_argument("--eta", type=float, help="diffusion: DDIM's eta (0 deterministic, 1 like DDPM)")
    sample.add_argument("--guidance", type=float, help="diffusion: classifier-free guidance weight")
    sample.set_defaults(handler=_command_sample)
    distill = commands.add_parser("distill", help="train a student blueprint on a trained teacher's soft targets",
                                  description="Knowledge distillation (Hinton et al. 2015): the student learns from "
                                  "the labels and the teacher's predictions softened by --temperature; the run "
                                  "evaluates and exports the student.")
    _add_train_arguments(distill)
    distill.add_argument("--teacher", metavar="RUN_OR_MODEL", help="the trained teacher: a run folder or a .keras file")
    distill.add_argument("--student", dest="blueprint", help="the student's blueprint (same as --blueprint)")
    distill.add_argument("--temperature", type=float, default=4.0, help="softmax temperature T > 0. Default: "
                         "%(default)s")
    distill.add_argument("--alpha", type=float, default=0.1, help="weight in [0, 1] of the hard-label loss. "
                         "Default: %(default)s")
    distill.set_defaults(handler=_command_distill)
    lr_find = commands.add_parser("lr-find", help="learning-rate range test: sweep the rate, plot the loss, suggest "
                                  "one",
                                  description="Train for a few hundred steps while the learning rate grows "
                                  "exponentially (Smith 2017); stop when the smoothed loss exceeds --divergence "
                                  "times its best; write a PNG of loss against rate and print the suggested rate: the "
                                  "steepest descent of the smoothed loss before its minimum. The model is not saved.")
    _add_model_and_data_arguments(lr_find, "convnet", "digits")
    lr_find.add_argument("--optimizer", default="adam", help="the optimizer you will train with. Default: %(default)s")
    lr_find.add_argument("--optimizer-arg", action="append", type=_parse_key_value, default=[], metavar="KEY=VALUE",
                         help="Keras optimizer argument, repeatable")
    lr_find.add_argument("--loss", help="as for train. Default: chosen from the task")
    lr_find.add_argument("--batch-size", type=int, default=32, help="Default: %(default)s")
    lr_find.add_argument("--start-lr", type=float, default=1e-6, help="Default: %(default)s")
    lr_find.add_argument("--end-lr", type=float, default=1.0, help="Default: %(default)s")
    lr_find.add_argument("--steps", type=int, default=200, help="Default: %(default)s")
    lr_find.add_argument("--divergence", type=float, default=4.0, metavar="K",
                         help="stop when the smoothed loss exceeds K x its best. Default: %(default)s")
    lr_find.add_argument("--seed", type=int, default=0, help="Default: %(default)s")
    lr_find.add_argument("--out", default="lr_find.png", help="the PNG to write. Default: %(default)s")
    lr_find.set_defaults(handler=_command_lr_find)
    doctor = commands.add_parser("doctor", help="sanity checks before a long training (loss at init, overfit one "
                                 "batch, NaN, gradients, dead ReLUs, learning rate, labels)",
                                 description="Karpathy's training checklist on a blueprint and a dataset, in seconds: "
                                 "each check prints pass/warn/fail, the number, and what to do. Exit status 1 when "
                                 "a check fails.")
    from kerakit import doctor as kdoctor

    d = {k: p.default for k, p in inspect.signature(kdoctor.doctor).parameters.items()}
    _add_model_and_data_arguments(doctor, d["model"], d["data"])
    doctor.add_argument("--tiny", action="store_true", help="build the blueprint's small registered configuration")
    doctor.add_argument("--lr", "--learning-rate", dest="learning_rate", type=float, default=d["learning_rate"],
                        help="the run's learning rate. Default: %(default)s")
    doctor.add_argument("--optimizer", default=d["optimizer"], help="Default: %(default)s")
    doctor.add_argument("--loss", default=d["loss"], help="Keras loss name; default: chosen as kerakit train does")
    doctor.add_argument("--batch-size", type=int, default=d["batch_size"], help="Default: %(default)s")
    doctor.add_argument("--overfit-examples", type=int, default=d["overfit_examples"], help="Default: %(default)s")
    doctor.add_argument("--overfit-steps", type=int, default=d["overfit_steps"], help="Default: %(default)s")
    doctor.add_argument("--generalise-steps", type=int, default=d["generalise_steps"], help="Default: %(default)s")
    doctor.add_argument("--seed", type=int, default=d["seed"], help="Default: %(default)s")
    doctor.add_argument("--plot", default="doctor_gradients.png", metavar="PNG",
                        help="where to draw the gradient norms per layer ('' for none). Default: %(default)s")
    doctor.set_defaults(handler=_command_doctor)
    info = commands.add_parser("info", help="versions, backend and devices")
    info.set_defaults(handler=_command_info)
    from tuning import cli as tuning_cli

    tuning_cli.add_parser(commands)  # `kerakit tune`
    return parser


def main(argv=None):
    """Runs the `kerakit` command; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USER_ERROR
    if args.backend:  # before anything imports keras
        os.environ["KERAS_BACKEND"] = args.backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from kerakit.errors import KerakitError

    try:
        return args.handler(args)
    except KerakitError as error:
        from kerakit.training import TrainingDivergedError

        print(f"kerakit {args.command}: error: {error}", file=sys.stderr)
        return EXIT_TRAINING_FAILED if isinstance(error, TrainingDivergedError) else EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("kerakit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
