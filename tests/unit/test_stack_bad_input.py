#!/usr/bin/python3
"""crowdsky-worker stack on hostile FITS files: every one ends in exit 1 and a
one-line reason naming the problem, never a crash, a hang or an output file.
The engine's own unit test (test_stack failure_modes) covers mixed sizes and
patterns, truncation and frames without stars; these are the header and data
shapes a broken upload or a hand-edited file can have. Standard library only."""
import os
import random
import struct
import subprocess
import sys
import tempfile

WORKER = os.environ["CS_WORKER"]
W, H = 64, 48
BASE = [("BAYERPAT", "GRBG"), ("DATE-OBS", "2025-03-27T01:20:32"), ("EXPTIME", 10)]
failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", what)
    else:
        print("ok  ", what)


def card(k, v=None):
    if v is None:
        s = k.ljust(80)
    elif isinstance(v, str):
        s = k.ljust(8) + "= " + ("'%s'" % v).ljust(20)
    elif isinstance(v, bool):
        s = k.ljust(8) + "= " + ("T" if v else "F").rjust(20)
    else:
        s = k.ljust(8) + "= " + str(v).rjust(20)
    return s[:80].ljust(80)


def fits(path, bitpix, dims, data=b"", extra=(), bzero=None):
    h = [card("SIMPLE", True), card("BITPIX", bitpix), card("NAXIS", len(dims))]
    h += [card("NAXIS%d" % (i + 1), d) for i, d in enumerate(dims)]
    if bzero is not None:
        h += [card("BZERO", bzero), card("BSCALE", 1)]
    h += [card(k, v) for k, v in extra] + [card("END")]
    hb = "".join(h).encode()
    hb += b" " * (-len(hb) % 2880)
    data += b"\0" * (-len(data) % 2880)
    with open(path, "wb") as f:
        f.write(hb + data)


def u16(n, value):
    return struct.pack(">%dh" % n, *([value - 32768] * n))


rnd = random.Random(1)
CASES = {
    # name: (maker, words expected in the reason)
    "float_nan": (lambda p: fits(p, -32, [W, H], b"".join(
        struct.pack(">f", float("nan") if i % 7 == 0 else 1000.0 + rnd.random() * 30) for i in range(W * H)), BASE),
        ["0 stars"]),
    "float_inf": (lambda p: fits(p, -32, [W, H], struct.pack(">f", float("inf")) * (W * H), BASE),
                  ["cannot read pixels"]),
    "bitpix8": (lambda p: fits(p, 8, [W, H], bytes(rnd.randrange(256) for _ in range(W * H)), BASE), ["0 stars"]),
    "int64": (lambda p: fits(p, 64, [W, H], struct.pack(">q", 2 ** 62) * (W * H), BASE), ["cannot read pixels"]),
    "double": (lambda p: fits(p, -64, [W, H], struct.pack(">d", 1e300) * (W * H), BASE), ["cannot read pixels"]),
    "cube": (lambda p: fits(p, 16, [W, H, 3], u16(W * H * 3, 1000), BASE, 32768), ["NAXIS = 3"]),
    "no_image": (lambda p: fits(p, 16, [], b"", BASE), ["NAXIS = 0"]),
    "tiny": (lambda p: fits(p, 16, [2, 2], u16(4, 1000), BASE, 32768), ["image size 2x2"]),
    "huge_claim": (lambda p: fits(p, 16, [100000, 100000], u16(W * H, 1000), BASE, 32768),
                   ["image size 100000x100000"]),
    "negative_axis": (lambda p: fits(p, 16, [-5, 10], b"", BASE), ["NAXIS"]),
    "bad_pattern": (lambda p: fits(p, 16, [W, H], u16(W * H, 1000), [("BAYERPAT", "XYZW")], 32768),
                    ["Bayer pattern"]),
    "bad_offset": (lambda p: fits(p, 16, [W, H], u16(W * H, 1000), BASE + [("XBAYROFF", -3)], 32768),
                   ["Bayer offset"]),
    "saturated": (lambda p: fits(p, 16, [W, H], u16(W * H, 65535), BASE, 32768), ["0 stars"]),
    "bad_date": (lambda p: fits(p, 16, [W, H], u16(W * H, 1000),
                                [("BAYERPAT", "GRBG"), ("DATE-OBS", "9999-99-99T99:99:99"), ("EXPTIME", -1e308)],
                                32768), ["0 stars"]),
}

with tempfile.TemporaryDirectory(prefix="cs-badstack-") as tmp:
    out = os.path.join(tmp, "out.fits")
    for name, (make, words) in sorted(CASES.items()):
        path = os.path.join(tmp, name + ".fit")
        make(path)
        for files in ([path], [path, path, path]):
            try:
                p = subprocess.run([WORKER, "stack", "--output", out, "--report", os.path.join(tmp, "r.json")] + files,
                                   capture_output=True, text=True, timeout=120)
            except subprocess.TimeoutExpired:
                check(False, "%s x%d: no answer in 120 s" % (name, len(files)))
                continue
            lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
            last = lines[-1] if lines else ""
            check(p.returncode == 1 and last.startswith("crowdsky-worker stack: ") and
                  all(w in last for w in words) and not os.path.exists(out),
                  "%s x%d: exit %d, %r" % (name, len(files), p.returncode, last[:160]))

print("%d failure(s)" % failures)
sys.exit(1 if failures else 0)
