#!/usr/bin/python3
"""Registration error of a CrowdSky stack against the simulator's truth, per frame.

usage: regerr.py TRUTH.json REPORT.json [WORST]

For every used frame: the RMS distance at the frame's four corners between the
report's frame -> reference matrix and the true one composed to the report's
reference (as `score`'s reg_rms_px); prints the mean, max, the number of frames
above 0.02 px and the WORST (default 12) frames. Then splits the error: every
frame's error includes the reference's own (the output is in its pixel grid),
so the maps between pairs of frames, ours against the truth's, give each
frame's own error free of it ("between frames", per frame: pair rms / sqrt 2),
and the rest is the reference's share. Standard library only.
"""
import json
import math
import sys


def m3(m):
    return [list(m[0]), list(m[1]), [0.0, 0.0, 1.0]]


def mul(a, b):
    return [[sum(a[i][k] * b[k][j] for k in range(3)) for j in range(3)] for i in range(3)]


def inv(m):
    a, b, c = m[0]
    d, e, f = m[1]
    det = a * e - b * d
    ia, ib, id_, ie = e / det, -b / det, -d / det, a / det
    return [[ia, ib, -(ia * c + ib * f)], [id_, ie, -(id_ * c + ie * f)], [0.0, 0.0, 1.0]]


def corner_err(m, t, corners):
    s = 0.0
    for x, y in corners:
        dx = (m[0][0] * x + m[0][1] * y + m[0][2]) - (t[0][0] * x + t[0][1] * y + t[0][2])
        dy = (m[1][0] * x + m[1][1] * y + m[1][2]) - (t[1][0] * x + t[1][1] * y + t[1][2])
        s += dx * dx + dy * dy
    return math.sqrt(s / len(corners))


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__.strip().splitlines()[2])
    truth = json.load(open(sys.argv[1]))
    rep = json.load(open(sys.argv[2]))
    nworst = int(sys.argv[3]) if len(sys.argv) > 3 else 12
    w, h = truth['width'], truth['height']
    corners = [(0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1)]
    tf = {f['file']: m3(f['matrix']) for f in truth['frames']}
    ref = rep['reference'].split('/')[-1]
    itr = inv(tf[ref])
    used = []
    for f in rep['frames']:
        name = f['file'].split('/')[-1]
        if f['used']:
            used.append((name, m3(f['matrix']), mul(itr, tf[name]), f))
    if not used:
        sys.exit('no used frames in the report')
    errs = sorted((corner_err(m, t, corners), name, f['stars'], f['rms_px']) for name, m, t, f in used)
    a = [e[0] for e in errs]
    total_rms = math.sqrt(sum(x * x for x in a) / len(a))
    print('frames %d  mean %.4f  rms %.4f  max %.4f  over 0.02 px: %d'
          % (len(a), sum(a) / len(a), total_rms, max(a), sum(x > 0.02 for x in a)))
    for e, name, stars, rms in errs[-nworst:]:
        print('  %.4f  %s  stars %d  rms %.3f px' % (e, name, stars, rms))
    if len(used) >= 2:
        acc, n = 0.0, 0
        for i in range(len(used)):
            for j in range(i + 1, len(used)):
                mi, ti = used[i][1], used[i][2]
                mj, tj = used[j][1], used[j][2]
                acc += corner_err(mul(inv(mj), mi), mul(inv(tj), ti), corners) ** 2
                n += 1
        own = math.sqrt(acc / n / 2)
        print('own error (between frames, reference-free) rms %.4f; reference share %.4f'
              % (own, math.sqrt(max(0.0, total_rms ** 2 - own ** 2))))


if __name__ == '__main__':
    main()
