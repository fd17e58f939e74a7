#!/usr/bin/python3
"""test_db_migrate_cli.py - `crowdsky-fcgi migrate` against the test stack's
MariaDB: creates a missing database, applies the project's migrations once,
then nothing; clear one-line errors for bad input. Exits 77 without the stack."""
import os
import subprocess
import sys
import tempfile

if not os.environ.get("CS_TEST_CONF") or not os.environ.get("CS_TEST_DB_SOCKET"):
    print("CS_TEST_CONF / CS_TEST_DB_SOCKET not set: no test stack, skipping")
    sys.exit(77)

FCGI = os.environ["CS_FCGI"]
ROOT = os.environ["CS_SOURCE_ROOT"]
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def migrate(*args, env=None):
    p = subprocess.run([FCGI, "migrate"] + list(args), capture_output=True, text=True,
                       env=env, timeout=120)
    return p.returncode, p.stdout, p.stderr


# the stack's own database is already migrated: nothing to do
rc, out, err = migrate("--config", os.environ["CS_TEST_CONF"])
check(rc == 0, "migrate on the stack's database exits 0 (%d: %s)" % (rc, err.strip()))
check("0 migrations applied" in out, "nothing left to apply: %r" % out.strip())

# a database that does not exist yet is created and fully migrated, via the
# environment override of db_name
scratch = "crowdsky_test_migrate_%d" % os.getpid()
env = dict(os.environ, CROWDSKY_DB_NAME=scratch)
rc, out, err = migrate("--config", os.environ["CS_TEST_CONF"], "--sql-dir", os.path.join(ROOT, "sql"), env=env)
n_sql = len([f for f in os.listdir(os.path.join(ROOT, "sql")) if f.endswith(".sql") and f[0].isdigit()])
check(rc == 0, "migrate creates %s (%d: %s)" % (scratch, rc, err.strip()))
check(len([l for l in out.splitlines() if l.startswith("applied ")]) == n_sql and ("%d migration" % n_sql) in out,
      "every sql/ migration applied and listed (%d): %r" % (n_sql, out.strip()[-200:]))
rc, out, err = migrate("--config", os.environ["CS_TEST_CONF"], env=env)
check(rc == 0 and "0 migrations applied" in out, "second run applies nothing: %r" % out.strip())

# a broken migration is reported with file and statement, and stops the run
with tempfile.TemporaryDirectory() as d:
    with open(os.path.join(d, "001_ok.sql"), "w") as f:
        f.write("CREATE TABLE cli_t (id INT);\n")
    with open(os.path.join(d, "002_bad.sql"), "w") as f:
        f.write("INSERT INTO cli_t VALUES (1);\nINSERT INTO no_such_table VALUES (1);\n")
    env2 = dict(os.environ, CROWDSKY_DB_NAME=scratch + "_b")
    rc, out, err = migrate("--config", os.environ["CS_TEST_CONF"], "--sql-dir", d, env=env2)
    check(rc == 1, "a failing migration exits 1 (%d)" % rc)
    check("002_bad.sql, statement 2" in err and len(err.strip().splitlines()) == 1,
          "one line naming file and statement: %r" % err.strip())
    check("applied 001_ok.sql" in out, "the good one before it was applied: %r" % out.strip())

# bad input: one-line reasons, non-zero exits
rc, out, err = migrate("--config", "/nonexistent/crowdsky.conf")
check(rc == 1 and "cannot open config" in err, "missing config file: %d %r" % (rc, err.strip()))
rc, out, err = migrate("--config", os.environ["CS_TEST_CONF"], "--sql-dir", "/nonexistent-dir")
check(rc == 1 and "/nonexistent-dir" in err, "missing sql dir: %d %r" % (rc, err.strip()))
rc, out, err = migrate("--bogus")
check(rc == 2 and "--bogus" in err, "unknown option: %d %r" % (rc, err.strip()))
env3 = dict(os.environ, CROWDSKY_DB_PASSWORD="wrong-password")
rc, out, err = migrate("--config", os.environ["CS_TEST_CONF"], env=env3)
check(rc == 1 and "denied" in err, "wrong database password: %d %r" % (rc, err.strip()))
env4 = dict(os.environ, CROWDSKY_DB_NAME="bad`name")
rc, out, err = migrate("--config", os.environ["CS_TEST_CONF"], env=env4)
check(rc == 1 and "must be letters" in err, "unsafe database name refused: %d %r" % (rc, err.strip()))
rc, out, err = migrate("--help")
check(rc == 0 and "usage" in out, "--help")

# drop the scratch databases (the stack's user may: GRANT on crowdsky%)
for name in (scratch, scratch + "_b"):
    p = subprocess.run(["mariadb", "--no-defaults", "--socket", os.environ["CS_TEST_DB_SOCKET"],
                        "-u", os.environ.get("CS_TEST_DB_USER", "crowdsky"),
                        "-p" + os.environ.get("CS_TEST_DB_PASSWORD", ""),
                        "-e", "DROP DATABASE IF EXISTS `%s`" % name], capture_output=True, text=True)
    check(p.returncode == 0, "drop %s (%s)" % (name, p.stderr.strip()))

if failures:
    print("%d check(s) failed" % len(failures))
    sys.exit(1)
print("all checks passed")
