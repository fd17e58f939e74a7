#!/usr/bin/python3
"""crowdsky-worker inspect (SPEC section 3): JSON lines and exit codes on real
Seestar frames and on hand-made bad files, each refused with its reason."""
import datetime
import json
import os
import subprocess
import sys
import tempfile

WORKER = os.environ["CS_WORKER"]
SRC = os.environ["CS_SOURCE_ROOT"]
SHARED = os.environ.get("CS_SHARED_DATA", "")
HDRS = os.path.join(SRC, "tests", "data", "fits", "seestar-headers")
FULL = 4152960  # a real frame: 5760 header bytes + 1080 x 1920 x 2 data bytes
OK_KEYS = {"file", "ok", "date_obs", "object", "ra", "dec", "exptime", "width", "height",
           "bayer", "chunk_key"}
failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", what)


def inspect(*files):
    p = subprocess.run([WORKER, "inspect", *files], capture_output=True, text=True, timeout=60)
    lines = [json.loads(line) for line in p.stdout.splitlines()]
    return p.returncode, lines, p.stderr


def chunk_key(date_obs, ra, dec):
    """SPEC section 5, written independently of the C code."""
    t = datetime.datetime.fromisoformat(date_obs.rstrip("Z"))
    slot = (t.hour * 3600 + t.minute * 60 + t.second) // 900
    r = "%.1f" % (ra % 360.0)
    r = "0.0" if r == "360.0" else r
    d = "%+.1f" % dec
    d = "+0.0" if d == "-0.0" else d
    return "%04d%02d%02d.%02d_%s_%s" % (t.year, t.month, t.day, slot, r, d)


def card(text):
    assert len(text) <= 80, text
    return text.ljust(80)


def fits(cards, data_bytes, end=True):
    h = "".join(card(c) for c in cards) + (card("END") if end else "")
    h += " " * (-len(h) % 2880)
    return h.encode("ascii") + bytes(data_bytes)


HEAD = ["SIMPLE  =                    T", "BITPIX  =                   16",
        "NAXIS   =                    2", "NAXIS1  =                    4",
        "NAXIS2  =                    3"]
DATE = "DATE-OBS= '2025-01-15T19:37:12.5'"
RA = "RA      =                 83.6"
DEC = "DEC     =                 22.0"


def main():
    tmp = tempfile.mkdtemp(prefix="cs_inspect_")
    # Real frames rebuilt from their real headers (pixel values do not matter to inspect).
    frames = []
    for folder in ["m94-s50-2025-03-27", "m94-s50-2025-03-27b"]:
        for name in sorted(os.listdir(os.path.join(HDRS, folder))):
            with open(os.path.join(HDRS, folder, name), "rb") as f:
                hdr = f.read()
            path = os.path.join(tmp, folder + "_" + name.replace(".hdr", ".fit"))
            with open(path, "wb") as f:
                f.write(hdr + bytes(FULL - len(hdr)))
            frames.append(path)
    rc, out, err = inspect(*frames)
    check(rc == 0, "rc 0 on 32 good frames, got %d (%s)" % (rc, err))
    check(len(out) == 32, "32 lines, got %d" % len(out))
    for o, path in zip(out, frames):
        check(set(o) == OK_KEYS, "keys of an ok line: %s" % sorted(o))
        check(o["file"] == path and o["ok"] is True, "file/ok %r" % o)
        check(o["width"] == 1080 and o["height"] == 1920, "geometry %r" % o)
        check(o["bayer"] == "GRBG" and o["object"] == "M 94" and o["exptime"] == 10, "meta %r" % o)
        check(o["date_obs"].startswith("2025-03-27T01:2"), "date_obs %r" % o["date_obs"])
        check(o["chunk_key"] in ("20250327.05_193.0_+41.0", "20250327.05_193.1_+41.0"),
              "chunk key %r" % o["chunk_key"])
    check(out[0]["date_obs"] == "2025-03-27T01:20:32.955368", "first date_obs")
    check(out[0]["ra"] == 193.04166 and out[0]["dec"] == 40.970556, "first pointing")
    check(out[0]["chunk_key"] == "20250327.05_193.0_+41.0", "first key")
    check(out[5]["chunk_key"] == "20250327.05_193.1_+41.0", "6th key (re-centred)")

    # The real files themselves when the shared data folder is there.
    if SHARED and os.path.isdir(SHARED):
        real = []
        for folder in sorted(os.listdir(SHARED)):
            d = os.path.join(SHARED, folder)
            if os.path.isdir(d):
                real += [os.path.join(d, n) for n in sorted(os.listdir(d)) if n.endswith(".fit")]
        rc, out, err = inspect(*real)
        check(rc == 0 and len(out) == len(real) == 45, "45 real frames: rc %d, %d lines" % (rc, len(out)))
        check(all(o["ok"] for o in out), "all real frames ok")
        keys = {o["chunk_key"] for o in out}
        check(keys == {"20250327.05_193.0_+41.0", "20250327.05_193.1_+41.0",
                       "20250409.83_193.0_+41.0", "20250630.02_315.6_+68.3"}, "real keys %s" % keys)

    # Frames from `simulate`, checked against its truth.json and a key computed here.
    sim = os.path.join(tmp, "sim")
    p = subprocess.run([WORKER, "simulate", "--out", sim, "--frames", "4", "--width", "64",
                        "--height", "48", "--threads", "1", "--start", "2025-01-15T19:44:40",
                        "--ra", "359.97", "--dec", "-0.04", "--object", "NGC 1"],
                       capture_output=True, text=True, timeout=120)
    check(p.returncode == 0, "simulate ran: %s" % p.stderr)
    if p.returncode == 0:
        with open(os.path.join(sim, "truth.json")) as f:
            truth = json.load(f)
        files = [os.path.join(sim, fr["file"]) for fr in truth["frames"]]
        rc, out, err = inspect(*files)
        check(rc == 0 and len(out) == 4, "inspect on simulated frames: rc %d %s" % (rc, err))
        for o, fr in zip(out, truth["frames"]):
            check(o["ok"] and o["date_obs"] == fr["date_obs"], "sim date_obs %r vs %r" % (o, fr))
            check(o["width"] == truth["width"] == 64 and o["height"] == truth["height"] == 48, "sim size")
            check(o["bayer"] == truth["bayer"] and o["object"] == "NGC 1", "sim bayer/object %r" % o)
            check(abs(o["ra"] - truth["ra"]) < 1e-9 and abs(o["dec"] - truth["dec"]) < 1e-9, "sim pointing")
            check(o["exptime"] == truth["exptime"], "sim exptime")
            check(o["chunk_key"] == chunk_key(fr["date_obs"], truth["ra"], truth["dec"]),
                  "sim key %r vs %r" % (o["chunk_key"], chunk_key(fr["date_obs"], truth["ra"], truth["dec"])))
        # 19:44:40 + 11 s cadence crosses the 19:45 slot edge; RA 359.97 -> 0.0, Dec -0.04 -> +0.0
        check([o["chunk_key"] for o in out] == ["20250115.78_0.0_+0.0"] * 2 + ["20250115.79_0.0_+0.0"] * 2,
              "sim keys %r" % [o["chunk_key"] for o in out])
        for name in os.listdir(sim):
            os.unlink(os.path.join(sim, name))
        os.rmdir(sim)

    # Hand-made files: a good one and bad ones, each with its reason.
    cases = [
        ("good.fits", fits(HEAD + [DATE, RA, DEC, "OBJECT  = 'M 1'"], 24), None),
        ("padded.fits", fits(HEAD + [DATE, RA, DEC], 2880), None),
        ("empty.fits", b"", "not a FITS file"),
        ("text.fits", b"hello world\n" * 300, "not a FITS file"),
        ("png.fits", b"\x89PNG\r\n\x1a\n" + bytes(3000), "not a FITS file"),
        ("noend.fits", fits(HEAD + [DATE, RA, DEC], 0, end=False), "header has no END card"),
        ("nodate.fits", fits(HEAD + [RA, DEC], 24), "missing DATE-OBS"),
        ("baddate.fits", fits(HEAD + ["DATE-OBS= '2025-02-30T00:00:00'", RA, DEC], 24),
         "invalid DATE-OBS '2025-02-30T00:00:00'"),
        ("nora.fits", fits(HEAD + [DATE, DEC], 24), "missing RA"),
        ("nodec.fits", fits(HEAD + [DATE, RA], 24), "missing DEC"),
        ("rabig.fits", fits(HEAD + [DATE, "RA      =                361.0", DEC], 24), "RA out of range"),
        ("decbig.fits", fits(HEAD + [DATE, RA, "DEC     =                -91.0"], 24), "DEC out of range"),
        ("short.fits", fits(HEAD + [DATE, RA, DEC], 23), "truncated data"),
        ("long.fits", fits(HEAD + [DATE, RA, DEC], 2881), "longer than its header and data"),
        ("bitpix.fits", fits(["SIMPLE  =                    T", "BITPIX  =                   12",
                              "NAXIS   =                    2"], 0), "unsupported BITPIX 12"),
    ]
    paths = []
    for name, data, _ in cases:
        p = os.path.join(tmp, name)
        with open(p, "wb") as f:
            f.write(data)
        paths.append(p)
    paths.append(os.path.join(tmp, "does-not-exist.fits"))
    cases.append(("does-not-exist.fits", None, "cannot open"))
    rc, out, err = inspect(*paths)
    check(rc == 1, "rc 1 when any file fails, got %d" % rc)
    check(len(out) == len(paths), "one line per file: %d vs %d" % (len(out), len(paths)))
    for o, p, (name, _, reason) in zip(out, paths, cases):
        check(o["file"] == p, "file name in order: %r" % o)
        if reason is None:
            check(o["ok"] is True and set(o) == OK_KEYS, "%s ok: %r" % (name, o))
        else:
            check(set(o) == {"file", "ok", "error"} and o["ok"] is False, "%s error shape %r" % (name, o))
            check(reason in o.get("error", ""), "%s: want %r, got %r" % (name, reason, o.get("error")))
    good = out[0]
    check(good["chunk_key"] == "20250115.78_83.6_+22.0", "design example key %r" % good)
    check(good["date_obs"] == "2025-01-15T19:37:12.5" and good["object"] == "M 1", "good %r" % good)
    check(good["exptime"] is None and good["bayer"] is None, "absent values are null: %r" % good)

    rc, out, _ = inspect(paths[0])
    check(rc == 0 and len(out) == 1, "single good file rc 0")
    p = subprocess.run([WORKER, "inspect", "--help"], capture_output=True, text=True)
    check(p.returncode == 0 and "usage" in p.stdout, "--help")
    p = subprocess.run([WORKER, "inspect"], capture_output=True, text=True)
    check(p.returncode == 2 and "usage" in p.stderr and p.stdout == "", "no files: usage, rc 2")
    p = subprocess.run([WORKER, "inspect", "--bogus", paths[0]], capture_output=True, text=True)
    check(p.returncode == 2 and "unknown option" in p.stderr, "unknown option rc 2")
    dash = os.path.join(tmp, "-dash.fits")
    with open(dash, "wb") as f:
        f.write(cases[0][1])
    p = subprocess.run([WORKER, "inspect", "--", "-dash.fits"], capture_output=True, text=True, cwd=tmp)
    check(p.returncode == 0 and json.loads(p.stdout)["ok"] is True, "-- ends options")

    for name in os.listdir(tmp):
        os.unlink(os.path.join(tmp, name))
    os.rmdir(tmp)
    if failures:
        print("%d checks failed" % failures)
        return 1
    print("inspect: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
