#!/usr/bin/python3
"""bench_cleanup.py - how long `crowdsky-fcgi cleanup` takes over a big raw buffer.

Needs a running stack (the CS_TEST_* variables of script/lib/stack.sh
stack_test_env) and CS_FCGI; works in a database and a buffer folder of its
own (dropped at the end). Three cases, each with SESSIONS x FILES raw files of
2880 bytes (default 100 x 100 = 10,000):
  walk       every file has its row (finalized sessions, pending jobs): nothing
             to remove, the cost of checking the buffer against the database
  orphans    no file has a row (unknown session folders, all old): all removed
  abandoned  open sessions idle past the TTL: all removed with their rows

    CS_FCGI=build/fcgi/crowdsky-fcgi tests/bench/bench_cleanup.py [SESSIONS [FILES]]
Prints a Markdown table (files, seconds, files/s)."""
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time


def main():
    sessions = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    files = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    conf_path = os.environ.get("CS_TEST_CONF")
    fcgi = os.environ.get("CS_FCGI")
    if not conf_path or not fcgi:
        sys.exit("set CS_TEST_CONF (a running stack: eval \"$(. script/lib/stack.sh; stack_test_env DIR)\") and CS_FCGI")
    conf = {}
    for line in open(conf_path):
        if "=" in line and not line.lstrip().startswith("#"):
            k, v = line.split("=", 1)
            conf[k.strip()] = v.strip()
    tmp = tempfile.mkdtemp(prefix="cs-bench-cleanup-")
    buf = os.path.join(tmp, "buffer")
    os.mkdir(buf)
    db = "%s_bc%s" % (conf.get("db_name", "crowdsky"), secrets.token_hex(3))
    env = dict(os.environ, CROWDSKY_DB_NAME=db, CROWDSKY_BUFFER_DIR=buf)

    def sql(q, dbname=None):
        args = ["mariadb", "--no-defaults", "-N", "-B", "-u", conf.get("db_user", "crowdsky"), dbname or db]
        if conf.get("db_socket"):
            args.insert(2, "--socket=" + conf["db_socket"])
        p = subprocess.run(args, input=q.encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=dict(os.environ, MYSQL_PWD=conf.get("db_password", "")))
        if p.returncode:
            raise RuntimeError(p.stderr.decode())
        return [r.split("\t") for r in p.stdout.decode().splitlines()]

    def run(*args, offset=0):
        e = dict(env, CROWDSKY_CLOCK_OFFSET_SECONDS=str(offset))
        t0 = time.time()
        p = subprocess.run([fcgi] + list(args) + ["--config", conf_path], env=e, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, input=b"bench-password-1\n")
        wall = time.time() - t0
        if p.returncode:
            raise RuntimeError(p.stderr.decode())
        return p.stdout.decode(), wall

    def populate(state, rows):
        """sessions folders with files; with rows: sessions + raws (+ jobs) in the database."""
        old = time.time() - 7200
        tokens = [secrets.token_hex(32) for _ in range(sessions)]
        if rows:
            values = ",".join("('%s', 1, '%s', UTC_TIMESTAMP(6) - INTERVAL 2 HOUR)" % (t, state) for t in tokens)
            sql("INSERT INTO upload_sessions (token, user_id, state, updated_at) VALUES " + values)
            sql("INSERT INTO raw_files (session_id, user_id, original_filename, size_bytes, sha256, date_obs, "
                "obs_time, ra_deg, dec_deg, width, height, chunk_key) "
                "SELECT s.id, 1, CONCAT('f', q.seq, '.fit'), 2880, REPEAT('0', 64), '2025-01-01', 0, 0, 0, 8, 8, "
                "'20250101.00_0.0_+0.0' FROM upload_sessions s JOIN seq_1_to_%d q "
                "WHERE s.token IN (%s)" % (files, ",".join("'%s'" % t for t in tokens)))
            if state == "finalized":
                sql("INSERT INTO stacking_jobs (user_id, session_id, chunk_key, frame_count) "
                    "SELECT 1, id, '20250101.00_0.0_+0.0', %d FROM upload_sessions WHERE token IN (%s)"
                    % (files, ",".join("'%s'" % t for t in tokens)))
                sql("UPDATE raw_files r JOIN stacking_jobs j ON j.session_id = r.session_id SET r.job_id = j.id")
            ids = sql("SELECT s.token, r.id FROM raw_files r JOIN upload_sessions s ON s.id = r.session_id "
                      "WHERE s.token IN (%s)" % ",".join("'%s'" % t for t in tokens))
        else:
            ids = [(t, str(i + 1)) for t in tokens for i in range(files)]
        block = b"\0" * 2880
        for t in tokens:
            os.mkdir(os.path.join(buf, "sess_" + t))
        for t, i in ids:
            p = os.path.join(buf, "sess_" + t, i + ".fit")
            with open(p, "wb") as f:
                f.write(block)
            os.utime(p, (old, old))
        for t in tokens:
            d = os.path.join(buf, "sess_" + t)
            os.utime(d, (old, old))
        return len(ids)

    def count_files():
        return sum(len(fs) for _, _, fs in os.walk(buf))

    results = []
    try:
        run("migrate")
        run("user", "create", "bench", "bench@example.org")
        cases = [("walk (all known, nothing removed)", "finalized", True, 0),
                 ("orphans (no rows, all removed)", None, False, 0),
                 ("abandoned sessions (rows + files removed)", "open", True, 90000)]
        for name, state, rows, offset in cases:
            n = populate(state, rows)
            out, wall = run("cleanup", "--no-verify", offset=offset)
            m = re.search(r"seconds=([0-9.]+)", out)
            secs = float(m.group(1))
            left = count_files()
            results.append((name, n, secs, wall, left, out.strip().splitlines()[-1]))
            # reset for the next case
            sql("DELETE FROM stacking_jobs")
            sql("DELETE FROM upload_sessions")
            shutil.rmtree(buf)
            os.mkdir(buf)
    finally:
        try:
            sql("DROP DATABASE `%s`" % db, dbname=conf.get("db_name", "crowdsky"))
        except RuntimeError as e:
            print("could not drop %s: %s" % (db, e))
        shutil.rmtree(tmp, ignore_errors=True)
    print("| case | files | cleanup run (s) | process wall (s) | files/s | files left |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, n, secs, wall, left, _ in results:
        print("| %s | %d | %.3f | %.3f | %.0f | %d |" % (name, n, secs, wall, n / secs if secs else 0, left))
    for r in results:
        print("  " + r[5])


main()
