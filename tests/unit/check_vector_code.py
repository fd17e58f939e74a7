#!/usr/bin/python3
"""The hot loops of the stacking engine are vector code, checked in the built
library's machine code: usage: check_vector_code.py OBJDUMP LIBCROWDSKY.a

The issue asks that the compiler vectorise the inner loops (checked with
-fopt-info-vec or by reading the assembly). The loops are written with GCC
vector types, so -fopt-info-vec has nothing to report on them; this reads the
assembly instead: each function below must contain at least so many packed
single-precision arithmetic, compare, logic or FMA instructions on 32-byte
(ymm, the AVX2 paths chosen at run time) or 16-byte (xmm, the baseline x86-64
paths, inlined into their drivers) registers. A rewrite that falls back to
scalar code fails here. Skips (77) on other architectures. Standard library only.
"""
import collections
import platform
import re
import subprocess
import sys

# function: (register, at least so many packed float instructions)
WANT = {
    "accumulate8": ("ymm", 8),            # combine: the clipping passes over all frames
    "cs_combine_sigma_clip": ("xmm", 10),  # ... the 4-wide path, inlined
    "pass1_avx2": ("ymm", 20),            # resampling, horizontal pass
    "pass2_avx2": ("ymm", 20),            # resampling, vertical pass
    "cs__resample_bicubic3_sep": ("xmm", 40),
    "green_run_v8": ("ymm", 20),          # debayer, green at red/blue
    "chroma_run_v8": ("ymm", 20),         # debayer, red and blue
    "cs__debayer_spans": ("xmm", 40),
}
PACKED = re.compile(r"^v?(add|sub|mul|div|min|max|cmp\w*|and|andn|or|xor|blendv|f[n]?m(add|sub)\w*)ps$")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[1].strip())
    if platform.machine() not in ("x86_64", "AMD64"):
        print("not x86-64: nothing to check")
        sys.exit(77)
    out = subprocess.run([sys.argv[1], "-d", "--no-show-raw-insn", sys.argv[2]], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, check=True).stdout.decode(errors="replace")
    count = collections.Counter()
    func = None
    for line in out.splitlines():
        m = re.match(r"^[0-9a-f]+ <([^>]+)>:$", line)
        if m:
            func = m.group(1) if m.group(1) in WANT else None
            continue
        if func is None:
            continue
        parts = line.split("\t")
        if len(parts) < 2:
            continue
        ins = parts[-1].split()
        if ins and PACKED.match(ins[0]) and "%" + WANT[func][0] in parts[-1]:
            count[func] += 1
    bad = 0
    for f, (reg, least) in sorted(WANT.items()):
        ok = count[f] >= least
        bad += not ok
        print("%s %-26s %3d packed float instructions on %s (at least %d)" % ("ok  " if ok else "FAIL", f, count[f],
                                                                               reg, least))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
