#!/usr/bin/python3
"""Checks that every key of the config table (libcrowdsky/src/core/config.c)
is documented in conf/crowdsky.conf.example. Usage: check_config_keys.py ROOT"""
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else "."
src = open(root + "/libcrowdsky/src/core/config.c").read()
table = src[src.index("keys[] = {"):]
table = table[:table.index("};")]
keys = re.findall(r"\b[SILBD]\((\w+)[,)]", table)
example = open(root + "/conf/crowdsky.conf.example").read()
missing = [k for k in keys if not re.search(r"^#?\s*%s\s*=" % k, example, re.M)]
if not keys or missing:
    print("conf/crowdsky.conf.example lacks: " + " ".join(missing))
    sys.exit(1)
print("all %d configuration keys are documented" % len(keys))
