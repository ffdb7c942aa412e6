"""python -m infra.config --pulumi-yaml | --markdown | --write"""

import sys

from infra.config.docs import markdown_table, render_pulumi_yaml, write_generated

if sys.argv[1:] == ["--pulumi-yaml"]:
    sys.stdout.write(render_pulumi_yaml())
elif sys.argv[1:] == ["--markdown"]:
    sys.stdout.write(markdown_table())
elif sys.argv[1:] == ["--write"]:
    print("updated:", ", ".join(write_generated()) or "nothing")
else:
    sys.exit("usage: python -m infra.config --pulumi-yaml | --markdown | --write")
