"""Coverage-guided fuzzing of the decoders with atheris (libFuzzer for Python).

    python -m tests.fuzz.run record -runs=1000000 tests/fuzz/corpus/record
    python -m tests.fuzz.run frame  -runs=1000000 tests/fuzz/corpus/frame

The first argument names the target (:mod:`tests.fuzz.targets`); the rest are
libFuzzer's own (``-runs``, ``-max_len``, ``-seed``, corpus directories: the
first one named also receives the new inputs that reach new code). The
protocol package is instrumented for coverage before it is imported, so the
fuzzer steers towards branches of the decoders it has not reached yet. A
finding (an exception other than the typed errors, or a failed round trip)
stops the run with libFuzzer's crash report and the input saved as
``crash-<hash>``; add it to the corpus once fixed.

``make soak`` runs both targets (``tests/fuzz/test_fuzz_soak.py``).
"""

from __future__ import annotations

import shlex
import sys

import atheris

with atheris.instrument_imports(include=["protocol"]):
    from tests.fuzz.targets import TARGETS, target


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[1] not in TARGETS:
        sys.exit(f"usage: python -m tests.fuzz.run {{{','.join(TARGETS)}}} [libFuzzer options] [corpus dir]")
    check = target(argv[1])

    def one_input(data: bytes) -> None:
        check(data)

    # libFuzzer starts argv[0] through the shell for -merge and -fork: name
    # the interpreter, the module and the target, so the children fuzz this one.
    command = f"{shlex.quote(sys.executable)} -m tests.fuzz.run {argv[1]}"
    atheris.Setup([command, *argv[2:]], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
