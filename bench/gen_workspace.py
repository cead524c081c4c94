#!/usr/bin/env python3
"""Generate a cargo workspace of many small test binaries (start-up cost).

    OUT/Cargo.toml                    [workspace] of P packages
    OUT/pNN/Cargo.toml, src/lib.rs    unit tests (one binary)
    OUT/pNN/tests/tK.rs               K integration test binaries

P packages x (1 + K) binaries, T tests each. Every test appends the wall
clock (ns since the epoch) to $XDIST_BENCH_STAMP when it is set, so that
bench/start.sh can tell when the first test started. With --no-stamp the
tests are empty (for the memory measurement with 100,000 tests).

Python 3.11, standard library only.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

STAMP = """\
fn stamp() {
    if let Some(p) = std::env::var_os("XDIST_BENCH_STAMP") {
        use std::io::Write;
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(p).unwrap();
        f.write_all(format!("{t}\n").as_bytes()).unwrap();
    }
}
"""


def tests(n: int, stamp: bool, indent: str) -> str:
    body = "stamp();" if stamp else ""
    return "".join(f"{indent}#[test]\n{indent}fn t{i:05}() {{ {body} }}\n" for i in range(n))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--packages", type=int, default=10)
    ap.add_argument("--test-files", type=int, default=4, help="integration test binaries per package")
    ap.add_argument("--tests", type=int, default=20, help="tests per binary")
    ap.add_argument("--no-stamp", action="store_true")
    a = ap.parse_args()
    stamp = not a.no_stamp
    if a.out.exists():
        shutil.rmtree(a.out)
    a.out.mkdir(parents=True)
    names = [f"p{p:02}" for p in range(a.packages)]
    members = ", ".join(f'"{n}"' for n in names)
    (a.out / "Cargo.toml").write_text(f'[workspace]\nmembers = [{members}]\nresolver = "2"\n')
    for n in names:
        pkg = a.out / n
        (pkg / "src").mkdir(parents=True)
        (pkg / "tests").mkdir()
        (pkg / "Cargo.toml").write_text(
            f'[package]\nname = "{n}"\nversion = "0.1.0"\nedition = "2021"\n\n[lib]\ndoctest = false\n'
        )
        lib = "#[cfg(test)]\nmod tests {\n"
        if stamp:
            lib += "    use super::stamp;\n"
        lib += tests(a.tests, stamp, "    ") + "}\n"
        if stamp:
            lib = "#[cfg(test)]\n" + STAMP + lib
        (pkg / "src/lib.rs").write_text(lib)
        for k in range(a.test_files):
            (pkg / f"tests/t{k}.rs").write_text((STAMP if stamp else "") + tests(a.tests, stamp, ""))


if __name__ == "__main__":
    main()
