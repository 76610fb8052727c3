"""The command line: pick experiments, run them, show progress, write the report."""

from __future__ import annotations

import argparse
import pathlib
import platform
import sys
import time

import jax

import experiments
from experiments._context import Context
from experiments._progress import Progress
from experiments._report import write_report
from rmsprop_jax import compilation_cache

_DEFAULT_CACHE = compilation_cache.default_directory()


def _configured_cache() -> pathlib.Path:
    """The cache directory JAX is configured with (``JAX_COMPILATION_CACHE_DIR``,
    say), else the explorer's (:func:`compilation_cache.default_directory`)."""
    configured = jax.config.jax_compilation_cache_dir
    return pathlib.Path(configured) if configured else _DEFAULT_CACHE


class _CacheCount:
    """Counts, while in its ``with`` block, the programs JAX looked up in the
    persistent cache and those it found there (JAX's monitoring events)."""

    def __init__(self) -> None:
        self.requests = self.hits = 0

    def _event(self, event: str, **kwargs) -> None:
        if event == "/jax/compilation_cache/compile_requests_use_cache":
            self.requests += 1
        elif event == "/jax/compilation_cache/cache_hits":
            self.hits += 1

    def __enter__(self) -> _CacheCount:
        jax.monitoring.register_event_listener(self._event)
        return self

    def __exit__(self, *exc) -> None:
        jax.monitoring.unregister_event_listener(self._event)

    def text(self, directory: pathlib.Path | None) -> str:
        if directory is None:
            return "no compilation cache (--no-cache)"
        return (
            f"{self.hits} of {self.requests} compiled programs read from the "
            f"cache {directory}"
        )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m experiments",
        description="Reproduce and test the claims about RMSprop and its relatives: "
        "figures, report.md and a self-contained report.html.",
    )
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help="experiments to run, by name or by the letter of their report "
        "section, which runs every experiment of that section (default: all): "
        + ", ".join(f"{name} ({x})" for name, x in experiments.EXPERIMENTS.items())
        + "; 'external' (x, run only when named: published benchmarks and numbers "
        "over seeds, about 20 minutes on 2 cores)",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="run only this experiment or section (repeatable; the same as naming "
        "it), e.g. --only external",
    )
    parser.add_argument(
        "--out",
        type=pathlib.Path,
        default=pathlib.Path("out/experiments"),
        help="output directory (default: out/experiments)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="shorter runs, coarser grids, fewer figures: a first look; the "
        "full run is the reference",
    )
    parser.add_argument(
        "--size",
        choices=["tiny", "quick", "full"],
        help="run size; overrides --quick ('tiny' is for smoke tests)",
    )
    parser.add_argument(
        "--cache-dir",
        type=pathlib.Path,
        help="JAX's persistent compilation cache: a later run of the same size "
        "reads the compiled programs back instead of compiling them (default: "
        f"JAX's jax_compilation_cache_dir where set, else {_DEFAULT_CACHE})",
    )
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="compile every program anew (no persistent compilation cache)",
    )
    parser.add_argument(
        "--expression",
        default="sin(w1) + cos(w2)",
        help="a formula in w1, w2 added as a landscape to compare_paths "
        "(default: 'sin(w1) + cos(w2)')",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        names = experiments.resolve([*args.names, *args.only])
    except ValueError as error:
        _parser().error(str(error))
    size = args.size or ("quick" if args.quick else "full")
    args.out.mkdir(parents=True, exist_ok=True)
    modules = [experiments.load(name) for name in names]
    progress = Progress(0)
    ctx = Context(args.out, size, progress, args.expression)
    # Before the first compilation (the formula's check compiles its evaluator).
    cache = None if args.no_cache else (args.cache_dir or _configured_cache())
    if cache is not None:
        compilation_cache.enable(cache)
    counted = _CacheCount()
    try:
        if "compare_paths" in names:  # fail early on a formula it cannot measure
            from rmsprop_jax.landscapes import from_formula

            with counted:
                from_formula(args.expression)
    except ValueError as error:
        _parser().error(f"--expression: {error}")
    progress.total = sum(module.units(ctx) for module in modules)
    start = time.perf_counter()
    with counted:
        sections = [module.run(ctx) for module in modules]
    progress.close()
    seconds = time.perf_counter() - start
    preamble = (
        f"Run size '{size}' ({', '.join(names)}), {seconds:.0f} s on "
        f"{platform.machine()} with jax {jax.__version__} "
        f"({jax.default_backend()}). Every number below is measured by this run."
    )
    reduced = f"The '{size}' size uses shorter runs and coarser grids"
    if size == "quick" and "compare_paths" in names:
        from experiments.compare_paths import QUICK_FIGURES

        reduced += (
            f", and draws the paths of (a) on {', '.join(QUICK_FIGURES)} only "
            "(every landscape is measured)"
        )
    reduced += (
        "; verdicts can differ from the default (full) run, which is the reference."
    )
    if size != "full":
        preamble += " " + reduced
    markdown, page = write_report(sections, preamble, args.out)
    _print_verdicts(sections)
    if size != "full":
        print(f"\n{reduced}")
    print(f"\nReport: {markdown} and {page} ({seconds:.0f} s; {counted.text(cache)})")
    return 0


def _print_verdicts(sections) -> None:
    """Each claim's text, then its verdicts, each with the setting it was
    measured in; where one claim gets different verdicts, say why."""
    from experiments._report import CLAIMS

    found = {
        claim: [(s.name, v) for s in sections for v in s.verdicts if v.claim == claim]
        for claim in CLAIMS
    }
    if not any(found.values()):
        return
    print("\nThe claims about RMSprop and what this run measured (details: report.md):")
    for claim, text in CLAIMS.items():
        verdicts = found[claim]
        if not verdicts:
            continue
        print(f"\n  {claim}. {text}")
        for name, v in verdicts:
            where = v.setting or name
            print(f"     - {v.verdict}\n         on {where} ({name})")
        if len({v.verdict for _, v in verdicts}) > 1:
            print(
                "     The verdicts differ because the settings differ: each holds "
                "for the setting named, not in general."
            )


if __name__ == "__main__":
    sys.exit(main())
