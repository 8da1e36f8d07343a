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


def _add_train_arguments(parser):
    from kerakit.optimizers import OPTIMIZERS
    from kerakit.schedules import SCHEDULES

    d = _train_defaults()
    parser.add_argument("--blueprint", default=d["model"], help="blueprint name (see `kerakit list`). "
                        "Default: %(default)s")
    parser.add_argument("--data", default=d["data"], help="'digits' (bundled) or 'tfds:<name>[/<config>]'. "
                        "Default: %(default)s")
    parser.add_argument("--arg", action="append", type=_parse_key_value, default=[], metavar="KEY=VALUE",
                        help="blueprint argument, repeatable: --arg filters=16,32 --arg dropout=0.2")
    parser.add_argument("--data-arg", action="append", type=_parse_key_value, default=[], metavar="KEY=VALUE",
                        help="kerakit.data.load argument, repeatable: --data-arg validation_fraction=0.1")
    parser.add_argument("--epochs", type=int, default=d["epochs"], help="Default: %(default)s")
    parser.add_argument("--batch-size", type=int, default=d["batch_size"], help="Default: %(default)s")
    parser.add_argument("--optimizer", default=d["optimizer"], help=f"one of {', '.join(OPTIMIZERS)}. "
                        "Default: %(default)s")
    parser.add_argument("--optimizer-arg", action="append", type=_parse_key_value, default=[], metavar="KEY=VALUE",
                        help="Keras optimizer argument, repeatable: --optimizer-arg beta_1=0.5")
    parser.add_argument("--lr", "--learning-rate", dest="learning_rate", type=float, default=d["learning_rate"],
                        help="base (peak) learning rate. Default: %(default)s")
    parser.add_argument("--schedule", default=d["schedule"], help=f"one of {', '.join(SCHEDULES)}. "
                        "Default: %(default)s")
    parser.add_argument("--warmup-epochs", type=float, default=d["warmup_epochs"], help="Default: %(default)s")
    parser.add_argument("--weight-decay", type=float, default=d["weight_decay"])
    parser.add_argument("--loss", default=d["loss"], help="Keras loss name; default: chosen from the task")
    parser.add_argument("--seed", type=int, default=d["seed"], help="Default: %(default)s")
    parser.add_argument("--early-stopping", type=int, default=d["early_stopping"], metavar="PATIENCE",
                        help="patience in epochs on val_loss, 0 = off. Default: %(default)s")
    parser.add_argument("--devices", default=d["devices"], help="data parallel: 'all', a count, or names")
    parser.add_argument("--run-dir", default=d["run_dir"], help="run folder (default: <runs-root>/<model>-<data>)")
    parser.add_argument("--runs-root", default=d["runs_root"], help="Default: %(default)s")
    parser.add_argument("--overwrite", action="store_true", help="replace a complete run in --run-dir")
    parser.add_argument("--tensorboard", action="store_true", help="write TensorBoard logs")
    parser.add_argument("--no-export", dest="export", action="store_false", help="skip the SavedModel export")
    parser.add_argument("--tfds-data-dir", help="TFDS data directory (default: TFDS's own)")
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
    parser.add_argument("--sample-every", type=int, default=d["sample_every"], metavar="N",
                        help="generative models: a PNG grid of samples every N epochs in <run>/samples (0: only the "
                        "final samples.png). Default: %(default)s")
    parser.add_argument("--config", help="re-run the settings of a run's config.json (other flags are ignored)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


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
        data_args = dict(args.data_arg)
        if args.tfds_data_dir:
            data_args["data_dir"] = args.tfds_data_dir
        if args.tfds_download:
            data_args["download"] = True
        result = training.train(
            args.blueprint, args.data, epochs=args.epochs, batch_size=args.batch_size, optimizer=args.optimizer,
            learning_rate=args.learning_rate, schedule=args.schedule, warmup_epochs=args.warmup_epochs,
            weight_decay=args.weight_decay, loss=args.loss, seed=args.seed, run_dir=args.run_dir,
            runs_root=args.runs_root, overwrite=args.overwrite, early_stopping=args.early_stopping or None,
            tensorboard=args.tensorboard, devices=_parse_devices(args.devices), export=args.export,
            verbose=verbose, blueprint_args=dict(args.arg), data_args=data_args, init_from=args.init_from,
            freeze_epochs=args.freeze_epochs, unfreeze_stages=args.unfreeze_stages,
            fine_tune_lr_factor=args.fine_tune_lr_factor, augment=args.augment, lora_rank=args.lora_rank,
            sample_every=args.sample_every, optimizer_args=dict(args.optimizer_arg),
        )
    metrics = ", ".join(f"{k} {v:.4f}" for k, v in result.test_metrics.items())
    print(f"test: {metrics}")
    print(f"trained {len(result.history.get('loss', []))} epochs in {result.seconds:.1f} s"
          f"{' (resumed)' if result.resumed else ''}")
    print(f"run folder: {result.run_dir}")
    if result.saved_model:
        print(f"SavedModel (verified): {result.saved_model}")
    return 0


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
