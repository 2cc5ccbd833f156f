"""The `unmirage` command: thin subcommands over the stages."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import List, Optional

import typer

from .config import WorldConfig, from_dict, load_config, to_dict
from .data.layout import CORPUS, FACTS, FORGET, IMAGES, RETAIN, TEST, TRAIN
from .errors import UnmirageError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="See through the safety mirage: audit, attack, align and evaluate VLMs.")

SET_HELP = "Config override key.sub=value (repeatable), e.g. --set world.bias=0.5"
FORMAT_HELP = ("The files' format: a registered dataset (vlguard, spavl, mmsafety, figstep, mirage, generic, vqa; "
               "see `unmirage ls`); default: VLGuard JSON, or samples JSONL by suffix")


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    for noisy in ("transformers", "accelerate", "httpx"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def _quiet(quiet: bool) -> None:
    """No progress bars from transformers either (ours follow `show_progress`)."""
    if quiet:
        import transformers

        transformers.utils.logging.disable_progress_bar()


@app.command()
def run(args: Optional[List[str]] = typer.Argument(None, metavar="[CONFIG] [KEY=VALUE]...",
                                                   help="Experiment YAML (default: the built-in study) and overrides"),
        set_: List[str] = typer.Option([], "--set", help=SET_HELP),
        format_: Optional[str] = typer.Option(None, "--format", help="Shorthand for --set data.format=NAME: the "
                                              "registered dataset that reads data_dir's safety and test sets"),
        quiet: bool = typer.Option(False, help="No progress bars")) -> None:
    """Run the whole study (world, audit, attacks, every arm, eval, report).

    Overrides may follow --set or stand alone: `unmirage run --set world.bias=0 world.seed=1`.
    """
    from .report import summary
    from .study import run_study

    cfg = _study_config(args, list(set_) + _shorthands(**{"data.format": format_}))
    _quiet(quiet)
    run_dir = run_study(cfg, show_progress=not quiet, announce=typer.echo)
    typer.echo(summary(run_dir))
    typer.echo(f"report: {run_dir / 'report.md'}")


@app.command()
def sweep(arm: str = typer.Argument(..., help="The arm to sweep, e.g. rmu"),
          key: str = typer.Argument(..., help="Its config key, e.g. params.layer, lr, params.coeff_scale"),
          values: List[str] = typer.Argument(..., help="Values, e.g. 0 1 2 3"),
          config: Optional[Path] = typer.Option(None, help="Experiment YAML (default: the built-in study)"),
          set_: List[str] = typer.Option([], "--set", help=SET_HELP),
          quiet: bool = typer.Option(False, help="No progress bars")) -> None:
    """Train and evaluate one arm per value of one of its keys; report the table (e.g. RMU's layer).

    `unmirage sweep rmu params.layer 0 1 2 3` reuses the study's base model and writes
    runs/<name>/sweep_rmu_layer.md.
    """
    import yaml

    from .sweep import sweep as run_sweep

    cfg = load_config(config, list(set_))
    _quiet(quiet)
    path = run_sweep(cfg, arm, key, [yaml.safe_load(v) for v in values], show_progress=not quiet)
    typer.echo(path.read_text())


@app.command()
def grid(args: Optional[List[str]] = typer.Argument(None, metavar="[CONFIG] [KEY=VALUE]...",
                                                    help="Experiment YAML with seeds: [...] and/or grid: {key: [values]}"),
         set_: List[str] = typer.Option([], "--set", help=SET_HELP),
         executor: str = typer.Option("auto", help="auto (SLURM where srun exists, else local processes), local "
                                      "or slurm"),
         timeout_min: int = typer.Option(240, help="Each cell's time limit in minutes"),
         slurm: List[str] = typer.Option([], help="A SLURM parameter, e.g. --slurm partition=gpu"),
         gpus: int = typer.Option(0, help="GPUs per cell (0: none; local cells run at once, each seeing these)")
         ) -> None:
    """Run seeds × swept keys as one job per cell through submitit, then the multi-seed report of each.

    Cells that finished are skipped when the grid is submitted again.
    """
    from .grid import run_grid

    cfg = _study_config(args, set_)
    params = dict(_key_values(slurm, "--slurm", "a SLURM parameter, e.g. partition=gpu"))
    for root in run_grid(cfg, executor, timeout_min, params, announce=typer.echo, gpus=gpus):
        typer.echo(f"report: {root / 'report.md'}")


@app.command()
def world(out: Path = typer.Argument(..., help="Directory to write the world into"),
          set_: List[str] = typer.Option([], "--set", help="World override, e.g. --set bias=0.5 --set seed=1")) -> None:
    """Generate the embedded world (VLGuard-format train/test, images, corpus, forget/retain, facts)."""
    from .config import apply_overrides
    from .world.build import build_world

    cfg = from_dict(WorldConfig, apply_overrides(to_dict(WorldConfig()), set_), "world")
    build_world(cfg, out)
    typer.echo(f"world written to {out}")


@app.command()
def audit(data: List[Path] = typer.Argument(..., help="VLGuard-format JSON or samples JSONL files, audited together"),
          out: Path = typer.Option(Path("audit"), help="Directory for audit.json and audit.png"),
          min_count: Optional[int] = typer.Option(None, help="Minimum count for a word to be ranked"),
          label: str = typer.Option("group", help="A query's label: its group's ('group': refuse unless "
                                    "safe_safes) or what its response does ('response': a refusal or not)"),
          format_: Optional[str] = typer.Option(None, "--format", help=FORMAT_HELP),
          option: List[str] = typer.Option([], help="A loader option KEY=VALUE, e.g. shots=3 (mirage)"),
          image_root: Optional[Path] = typer.Option(None, help="The images' folder (default: the loader's)"),
          ngrams: int = typer.Option(2, help="triggers.json: word n-grams up to this length (1-3)"),
          fdr: float = typer.Option(0.05, help="triggers.json: Benjamini-Hochberg false discovery rate")) -> None:
    """First-word × label association per query group (audit.json), and every word n-gram's
    (triggers.json: log-odds with a prior, FDR-guarded, each flagged term spurious or content).

    `--label response` audits what a training mix teaches: e.g. the embedded world's corpus.jsonl
    (which complies with every request) with its train.json, as mixed SFT trains on them."""
    from .standalone import audit_files

    result, found = audit_files(data, out, min_count, label, _source(format_, option, image_root), ngrams, fdr)
    for g, info in result["groups"].items():
        top = list(info["first_words"].items())[:5]
        typer.echo(f"{g} (n={info['n']}): " + ", ".join(f"{w} {c / info['n']:.1%}" for w, c in top))
    typer.echo(f"answer-biased: {result['answer_biased'][:5]}")
    typer.echo(f"refusal-biased: {result['refusal_biased'][:5]}")
    for kind in ("spurious", "content"):
        typer.echo(f"{kind} triggers: answer {found[kind]['answer'][:5]}, refuse {found[kind]['refuse'][:5]}")
    typer.echo(f"written: {out / 'audit.json'}, {out / 'audit.png'}, {out / 'triggers.json'}")


@app.command("audit-images")
def audit_images(data: Path = typer.Argument(..., help="A data directory (train.json, images/; a world's facts.json "
                                             "names its image cue) or a safety-set file (see --format)"),
                 model: Optional[Path] = typer.Option(None, help="The model whose image features are clustered (its "
                                                      "vision tower and projector); none: the named cue only"),
                 out: Path = typer.Option(Path("image_audit"), help="Directory for image_audit.json"),
                 clusters: int = typer.Option(8, help="k of the k-means over the images' features"),
                 cue: Optional[Path] = typer.Option(None, help="A named cue: JSON {image path: cue name} (default: a "
                                                    "world's, from its facts.json)"),
                 seed: int = typer.Option(0, help="The k-means seed"),
                 format_: Optional[str] = typer.Option(None, "--format", help=FORMAT_HELP),
                 option: List[str] = typer.Option([], help="A loader option KEY=VALUE, e.g. shots=3 (mirage)"),
                 image_root: Optional[Path] = typer.Option(None, help="The images' folder (default: DATA's images/)"),
                 trust_remote_code: bool = typer.Option(False, help="Let the model run its own code")) -> None:
    """Image clusters × label, and a named image cue × label, scored as the audit scores words."""
    from .attacks.image_audit import audit_data

    result = audit_data(data, out, model, clusters, cue, seed, _source(format_, option, image_root), trust_remote_code)
    for part in ("cue", "clusters"):
        if result[part]:
            values = result[part]["values"]
            typer.echo(f"{part}: " + ", ".join(f"{v} {values[v]['score']:+.2f} (n={values[v]['n']}, "
                                               f"{values[v]['bias']})" for v in values))
    typer.echo(f"written: {out / 'image_audit.json'}")


@app.command()
def attack(data: Path = typer.Argument(..., help="VLGuard-format test JSON to rewrite"),
           out: Path = typer.Option(Path("attacks"), help="Directory for the attack JSONL files"),
           audit_file: Optional[Path] = typer.Option(None, "--audit", help="audit.json giving the words"),
           attack_word: str = typer.Option("", help="Answer-biased word (else from --audit)"),
           refusal_word: str = typer.Option("", help="Refusal-biased word (else from --audit)"),
           control_word: str = typer.Option("", help="Neutral control word (else from --audit)"),
           unseen_word: str = typer.Option("", help="A second control, a word the audited set never starts a "
                                           "query with (default: none)"),
           shots: int = typer.Option(3, help="Rewrites per unsafe query (K)"),
           control_candidates: str = typer.Option("", help="Comma-separated words to try as the control when no "
                                                  "frequent word is neutral (default: the data's own first words)"),
           paraphrases: Optional[Path] = typer.Option(None, help=f"{FACTS} whose phrasings give paraphrases"),
           format_: Optional[str] = typer.Option(None, "--format", help=FORMAT_HELP),
           option: List[str] = typer.Option([], help="A loader option KEY=VALUE, e.g. shots=3 (mirage)"),
           image_root: Optional[Path] = typer.Option(None, help="The images' folder (default: the loader's)"),
           rewriter: str = typer.Option("rules", help="rules, or hf:MODEL_ID_OR_PATH: an instruction-tuned LM's "
                                        "paraphrases, held to the same checks (attack.rewriter)"),
           rewriter_attempts: int = typer.Option(3, help="hf: generations per query before it is left out"),
           trust_remote_code: bool = typer.Option(False, help="Let an hf: rewriter run its own code")) -> None:
    """Rewrite queries: answer-biased word into unsafe ones (K shots), refusal-biased into safe ones."""
    from .standalone import attack_file

    candidates = [w.strip() for w in control_candidates.split(",") if w.strip()]
    attack_file(data, out, audit_file, {"attack": attack_word, "refusal": refusal_word, "control": control_word,
                                        "unseen": unseen_word},
                shots, candidates, paraphrases, announce=typer.echo, source=_source(format_, option, image_root),
                rewriter=rewriter, rewriter_attempts=rewriter_attempts, trust_remote_code=trust_remote_code)


@app.command("forget-retain")
def forget_retain(data: Path = typer.Argument(..., help="A safety set (VLGuard train.json, SPA-VL, ... see --format)"),
                  out: Path = typer.Option(..., help="Directory for forget.jsonl and retain.jsonl"),
                  format_: str = typer.Option("vlguard", "--format", help="Its format: a registered dataset "
                                              "(see `unmirage ls`)"),
                  image_root: Optional[Path] = typer.Option(None, help="The images' folder (default: DATA's "
                                                            "images/ for vlguard, else the loader's own)"),
                  answers_field: Optional[str] = typer.Option(None, help="Harmful answers from this field of the "
                                                              "records, e.g. rejected (SPA-VL)"),
                  answers: Optional[Path] = typer.Option(None, help="Harmful answers from a JSONL of {id, answer}"),
                  model: List[Path] = typer.Option([], help="Harmful answers from generator models (repeatable): "
                                                   "the judge keeps each query's most harmful answer"),
                  min_score: Optional[float] = typer.Option(None, help="With --model: drop queries whose best "
                                                            "answer scores below this (keyword judge: 1 harmful, "
                                                            "0 irrelevant, -1 refusal)"),
                  general: List[Path] = typer.Option([], help="Samples JSONL of general safe data to top retain up"),
                  retain_size: Optional[int] = typer.Option(None, help="Top retain up to this many samples"),
                  check_images: bool = typer.Option(True, help="Check that every image exists (--no-check-images: "
                                                    "the text alone, e.g. answers from a field)"),
                  set_: List[str] = typer.Option([], "--set", help="e.g. --set eval.judge=vlm --set seed=1")) -> None:
    """Build the forget and retain sets of unlearning from a safety set."""
    from .standalone import forget_retain as build

    build(data, out, format_, image_root, answers_field, answers, model, general, retain_size, min_score,
          list(set_), check_images, announce=typer.echo)


@app.command()
def train(method: str = typer.Option(..., help="Registered method (see `unmirage ls`)"),
          model: Path = typer.Option(..., help="Model directory to start from"),
          data: Path = typer.Option(..., help=f"Data directory ({TRAIN}, {CORPUS}, {FORGET}, {RETAIN}, {IMAGES}/)"),
          out: Path = typer.Option(..., help="Where to save the aligned model"),
          set_: List[str] = typer.Option([], "--set", help="Arm override, e.g. --set steps=100 --set params.beta=0.5 "
                                         "--set mix=corpus; model.* keys set the model config, e.g. "
                                         "--set model.finetune=lora"),
          seed: Optional[int] = typer.Option(None, help="Shorthand for --set seed=N (default 0)"),
          max_length: Optional[int] = typer.Option(None, help="Shorthand for --set model.max_length=N"),
          format_: Optional[str] = typer.Option(None, "--format", help="Shorthand for --set data.format=NAME: the "
                                                f"registered dataset that reads the data directory's {TRAIN}; "
                                                "data.* keys say how it is read (docs/config.md)")) -> None:
    """Align a model with one method, on any data mix of a data directory (as a study's arm would)."""
    from accelerate import PartialState

    from .standalone import train_one

    record = train_one(method, model, data, out, list(set_) + _shorthands(
        seed=seed, **{"model.max_length": max_length, "data.format": format_}))
    state = PartialState()  # set up by the Trainer; several ranks under accelerate/torchrun
    if state.is_main_process:
        typer.echo(f"saved {out} ({record['seconds']} s, budget {record['budget']})")
    state.destroy_process_group()  # a clean exit for every rank (no-op in one process)


def _source(format_: Optional[str], option: List[str], image_root: Optional[Path]):
    """How the command reads its query files (`standalone.Source`)."""
    from .standalone import Source

    return Source(format_, _key_values(option, "--option", "a loader option, e.g. shots=3"), image_root)


def _key_values(items: List[str], flag: str, what: str) -> tuple:
    """((key, value), ...) of KEY=VALUE arguments, each value read as YAML."""
    import yaml

    from .errors import ConfigError

    if any("=" not in item for item in items):
        raise ConfigError(f"{flag} takes KEY=VALUE ({what}), got {items}")
    return tuple((k, yaml.safe_load(v)) for k, v in (item.split("=", 1) for item in items))


def _study_config(args: Optional[List[str]], set_: List[str]):
    """The study config of `run` and `grid`: at most one config file among the arguments, the
    others and every --set are overrides."""
    from .errors import ConfigError

    configs = [a for a in args or [] if "=" not in a]
    if len(configs) > 1:
        raise ConfigError(f"give at most one config file, got {configs}")
    return load_config(configs[0] if configs else None, list(set_) + [a for a in args or [] if "=" in a])


def _shorthands(**flags) -> list[str]:
    """`--set` overrides for the flags given (None: not given)."""
    return [f"{key}={value}" for key, value in flags.items() if value is not None]


@app.command("eval")
def eval_(model: Path = typer.Argument(..., help="Model directory"),
          data: Path = typer.Option(..., help=f"Data directory ({TEST}, {IMAGES}/)"),
          out: Path = typer.Option(Path("eval"), help="Output directory"),
          attacks: Optional[Path] = typer.Option(None, help="Directory of attack JSONL files to add"),
          set_: List[str] = typer.Option([], "--set", help="Study config override, e.g. --set eval.judge=vlm "
                                         "--set eval.judge_model=DIR"),
          judge: Optional[str] = typer.Option(None, help="Shorthand for --set eval.judge=NAME: oracle (world, the "
                                              "default) or keyword"),
          batch_size: Optional[int] = typer.Option(None, help="Shorthand for --set eval.batch_size=N"),
          max_new_tokens: Optional[int] = typer.Option(None, help="Shorthand for --set eval.max_new_tokens=N; 0 = "
                                                       "the world's longest answer + slack (oracle), else 256"),
          max_length: Optional[int] = typer.Option(None, help="Shorthand for --set model.max_length=N: the "
                                                   "longest teacher-forced example in tokens"),
          format_: Optional[str] = typer.Option(None, "--format", help="Read the test set from --data, a file "
                                                "of this format (a registered dataset), instead of DIR/test.json"),
          option: List[str] = typer.Option([], help="A loader option KEY=VALUE, e.g. shots=3 (mirage)"),
          image_root: Optional[Path] = typer.Option(None, help="With --format: the folder its images' paths "
                                                    "start from")) -> None:
    """Generate on every split, judge each answer; writes samples.jsonl and results.json."""
    from .standalone import eval_one

    metrics = eval_one(model, data, out, attacks, list(set_) + _shorthands(**{
        "eval.judge": judge, "eval.batch_size": batch_size, "eval.max_new_tokens": max_new_tokens,
        "model.max_length": max_length}), source=_source(format_, option, image_root))
    typer.echo(json.dumps({k: v for k, v in metrics.items() if not k.startswith("ci/")}, indent=1))


@app.command()
def judge(answers: Path = typer.Argument(..., help="JSONL of answers: instruction and answer per line; optionally "
                                         "group (default unsafes), split (default: the group), image, id, source_id, "
                                         "shot (an eval's samples.jsonl has them all)"),
          data: Optional[Path] = typer.Option(None, help="Data directory the judge needs (images/, the world's "
                                              "facts.json for the oracle); default: the answers' folder"),
          out: Path = typer.Option(Path("judged"), help="Directory for samples.jsonl (verdicts) and results.json"),
          set_: List[str] = typer.Option([], "--set", help="Study config override, e.g. --set eval.judge=vlm "
                                         "--set eval.judge_model=DIR"),
          judge_name: Optional[str] = typer.Option(None, "--judge", help="Shorthand for --set eval.judge=NAME"),
          name: Optional[str] = typer.Option(None, help="The arm's name in results.json (default: the file's stem)"),
          queries: Optional[Path] = typer.Option(None, help="The queries answered (then each answer line needs only "
                                                 "id and answer; every query needs one)"),
          format_: Optional[str] = typer.Option(None, "--format", help=FORMAT_HELP),
          option: List[str] = typer.Option([], help="A loader option KEY=VALUE, e.g. shots=3 (mirage)"),
          image_root: Optional[Path] = typer.Option(None, help="The images' folder (default: the loader's)")) -> None:
    """Judge answers a model already gave, with any registered judge; no model is loaded."""
    from .standalone import judge_answers

    metrics = judge_answers(answers, data, out, list(set_) + _shorthands(**{"eval.judge": judge_name}), name,
                            queries, _source(format_, option, image_root))
    typer.echo(json.dumps({k: v for k, v in metrics.items() if not k.startswith("ci/")}, indent=1))
    typer.echo(f"written: {out / 'samples.jsonl'}, {out / 'results.json'}")


@app.command("lmms-eval")
def lmms_eval(model: str = typer.Argument(..., help="Model directory or hub id"),
              tasks: str = typer.Option(..., help="lmms-eval task names, comma-separated, e.g. vqav2_val,pope"),
              out: Path = typer.Option(..., help="Directory for lmms-eval's files (lmms_eval/) and results.json"),
              model_type: str = typer.Option("llava_hf", help="lmms-eval's model class, e.g. llava_hf, qwen2_vl, "
                                             "llava_onevision"),
              batch_size: int = typer.Option(1, help="lmms-eval's batch size"),
              limit: Optional[int] = typer.Option(None, help="At most this many examples per task (a quick check)")
              ) -> None:
    """Run lmms-eval's own benchmarks on a model (optional: needs `pip install lmms-eval`).

    Its scores go to OUT/results.json as lmms/TASK/METRIC, on lmms-eval's own scale."""
    from .eval.lmms import run_lmms_eval

    metrics = run_lmms_eval(model, tasks, out, model_type, batch_size, limit)
    typer.echo(json.dumps(metrics, indent=1))
    typer.echo(f"written: {out / 'results.json'}")


@app.command("fit-judge")
def fit_judge(data: List[Path] = typer.Argument(None, help="A safety set's answers: VLGuard-format JSON or samples "
                                                "JSONL (a refused group's responses are the refusals)"),
              labelled: List[Path] = typer.Option([], "--labelled", help="JSON lines of {text, refusal}: answers "
                                                  "labelled by what they do, fitted on too (repeatable)"),
              out: Path = typer.Option(..., help="Directory for the fitted judge (weights.safetensors, vocab.json)"),
              format_: Optional[str] = typer.Option(None, "--format", help=FORMAT_HELP),
              option: List[str] = typer.Option([], help="A loader option KEY=VALUE"),
              min_count: int = typer.Option(3, help="Fewest answers a word or word pair must occur in"),
              steps: int = typer.Option(400, help="Gradient steps"),
              feature_set: Optional[int] = typer.Option(None, help="The features: 1 words and word pairs; 3 those "
                                                        "and the opening's, marked; 4 set 3 with the words' stems "
                                                        "and character n-grams (the default); 2 set 3 with a "
                                                        "long answer's words weighed less")) -> None:
    """Fit the `fitted` refusal judge (select it with --set eval.judge=fitted --set eval.judge_model=OUT)."""
    from .errors import ConfigError
    from .eval.fitted import FEATURE_SET, FEATURE_SETS, read_labelled
    from .eval.fitted import fit_judge as fit

    if feature_set is not None and feature_set not in FEATURE_SETS:
        raise ConfigError(f"--feature-set must be one of {', '.join(map(str, FEATURE_SETS))}, got {feature_set}")
    if not data and not labelled:
        raise ConfigError("fit-judge needs answers to fit on: DATA files, --labelled files or both")
    source = _source(format_, option, None)
    samples = [s for path in data or [] for s in source.load(path)]
    texts, refusals = [], []
    for path in labelled:
        more, said = read_labelled(path)
        texts, refusals = texts + more, refusals + said
    judge = fit(samples, min_count, steps, feature_set=FEATURE_SET if feature_set is None else feature_set,
                labelled=(texts, refusals))
    judge.save(out)
    typer.echo(f"fitted on {sum(bool(s.response.strip()) for s in samples) + len(texts)} answers, "
                f"{len(judge.vocab)} features -> {out}")


@app.command()
def report(run_dir: Path = typer.Argument(..., help="A run directory with results.json")) -> None:
    """Tables and figures from results.json (report.md, PNGs)."""
    from .report import write_report

    typer.echo(f"written: {write_report(run_dir)}")


@app.command("ls")
def ls() -> None:
    """List registered methods, judges, dataset loaders and attacks."""
    from .attacks.base import ATTACKS
    from .data.datasets import DATASETS
    from .judges import JUDGES
    from .methods.base import METHODS

    for title, reg in (("methods", METHODS), ("judges", JUDGES), ("datasets", DATASETS), ("attacks", ATTACKS)):
        typer.echo(f"{title}:")
        for name in reg:
            typer.echo(f"  {name:10s} {reg.doc(name)}")
    typer.echo("arms (default study): " + ", ".join(load_config().arms))


INTERRUPTED = 130  # the shell's code for a process stopped by Ctrl-C (128 + SIGINT)


def _usage_error() -> type:
    """The usage-error base class of the click that typer runs on, found through typer's public
    `BadParameter`: newer typer releases vendor their own click, whose exceptions the installed
    click's do not match (and need no click installed)."""
    return next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def main() -> None:
    _setup_logging("-v" in sys.argv or "--verbose" in sys.argv)
    argv = [a for a in sys.argv[1:] if a not in ("-v", "--verbose")]
    try:
        code = app(args=argv, standalone_mode=False)  # typer returns an Exit's code here, 130 for Ctrl-C
    except UnmirageError as e:
        typer.echo(f"error: {e}", err=True)
        raise SystemExit(2) from None
    except typer.Exit as e:
        raise SystemExit(e.exit_code) from None
    except typer.Abort:  # end of input at a prompt
        typer.echo("aborted", err=True)
        raise SystemExit(1) from None
    except Exception as e:  # click usage errors (an unknown option, a missing argument)
        if isinstance(e, _usage_error()):
            e.show()
            raise SystemExit(e.exit_code) from None
        raise
    if code == INTERRUPTED:
        typer.echo("interrupted: the files already written are whole, and `unmirage run` run again resumes "
                   "from its finished stages and arms", err=True)
    if isinstance(code, int) and code:
        raise SystemExit(code)


if __name__ == "__main__":
    main()
