"""`cmake --install --component python` lays the package out as Debian's
dist-packages wants it, and the installed copy works on its own: a Python
that reads that folder as a site directory (as Debian's python3 reads
/usr/local/lib/python3/dist-packages) gets "baton" on importing torch, from
the installed files, through the installed .pth hook, with no other setting.

Usage: install_test.py <cmake> <build dir> <python>
"""

import os
import subprocess
import sys
import tempfile

cmake, build, python = sys.argv[1:4]
with tempfile.TemporaryDirectory(prefix="baton_py_install_") as prefix:
    subprocess.run([cmake, "--install", build, "--component", "python", "--prefix", prefix],
                   check=True, stdout=subprocess.DEVNULL)
    site = os.path.join(prefix, "lib", "python3", "dist-packages")
    for path in ("baton_torch.pth", "_baton_torch_hook.py", "baton_torch/__init__.py",
                 "__pycache__"):
        assert os.path.exists(os.path.join(site, path)), f"not installed: {path}"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONUSERBASE")}
    probe = f"""
import site, sys
site.addsitedir({site!r})
assert "torch" not in sys.modules and "baton_torch" not in sys.modules, "the hook loaded something"
import torch.distributed as dist
import baton_torch
assert baton_torch.__file__.startswith({site!r}), baton_torch.__file__
assert "BATON" in dist.Backend._plugins
print("installed baton_torch ok:", baton_torch.__file__)
"""
    out = subprocess.run([python, "-c", probe], env=env, check=True, capture_output=True, text=True)
    print(out.stdout, end="")
print("python.install: ok")
