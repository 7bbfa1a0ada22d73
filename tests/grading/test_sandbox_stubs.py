"""The worker's reference stubs and the sandbox's stripped sources leave no original reachable."""

from __future__ import annotations

import subprocess
import sys

from genlab.exercises import load_spec
from genlab.grading.grader import protected_references
from genlab.grading.sandbox import strip_functions

# Run in a fresh interpreter: stubbing rewrites genlab's modules for the whole process.
STUB_CHECK = r"""
import functools, gc, sys, types, weakref
import genlab.losses
from genlab.losses import kl_divergence as alias          # imported by name elsewhere
holder = types.ModuleType("holder"); holder.kl = genlab.losses.kl_divergence
sys.modules["holder"] = holder
box = [genlab.losses.kl_divergence]                       # a container
def with_default(f=genlab.losses.kl_divergence):          # a default argument
    return f
def make_closure():
    f = genlab.losses.kl_divergence
    return lambda *a: f(*a)                               # a closure cell
closure = make_closure()
@functools.wraps(genlab.losses.kl_divergence)
def wrapped(*a):                                          # __wrapped__
    return None
original = weakref.ref(genlab.losses.kl_divergence)
del alias

from genlab.grading.worker import ReferenceUnavailable, stub_references
done = stub_references(["genlab.losses.kl_divergence", "genlab.models.vae.ConvVAE", "genlab.nope.missing"])
gc.collect()
assert done["genlab.losses.kl_divergence"] == "stubbed", done
assert done["genlab.models.vae.ConvVAE"].startswith("left alone"), done
assert done["genlab.nope.missing"].startswith("absent"), done
assert original() is None, gc.get_referrers(original())   # no copy anywhere: the object is gone
for f in (genlab.losses.kl_divergence, holder.kl, box[0], with_default(), wrapped.__wrapped__):
    try:
        f(None, None)
        raise SystemExit("a stub ran")
    except ReferenceUnavailable as exc:
        assert "not available while grading" in str(exc)
try:
    closure(None, None)
    raise SystemExit("the closure reached the original")
except ReferenceUnavailable:
    pass
for obj in gc.get_objects():
    if (isinstance(obj, types.FunctionType) and obj.__name__ == "kl_divergence" and obj.__module__ == "genlab.losses"
            and obj.__code__.co_filename != "<string>"):  # not our own functools.wraps copy
        assert obj.__code__.co_name == "stub", obj.__code__
# The rest of genlab still works.
import torch
from genlab.losses import elbo_loss
from genlab.models.vae import ConvVAE
print("OK")
"""


def test_stub_references_leaves_no_original(tmp_path):
    r = subprocess.run([sys.executable, "-c", STUB_CHECK], capture_output=True, text=True, timeout=300,
                       cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "GENLAB_FAST": "1", "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0 and r.stdout.strip().endswith("OK"), r.stderr[-3000:]


def test_strip_functions_removes_the_body():
    src = ("import math\n\n@staticmethod\ndef ref(x):\n    '''doc'''\n    return math.sqrt(x) * 42\n\n"
           "def keep(x):\n    return x\n")
    out = strip_functions(src, {"ref"}, "genlab.fake")
    assert "42" not in out and "sqrt" not in out and "not available while grading" in out
    assert "def keep(x):\n    return x" in out
    ns: dict = {}
    exec(compile(out, "stripped", "exec"), ns)
    try:
        ns["ref"](4)
    except RuntimeError as exc:
        assert "genlab.fake.ref" in str(exc)
    else:
        raise AssertionError("the stripped function still ran")
    assert ns["keep"](3) == 3


def test_protected_references_come_from_the_specs():
    names = protected_references(load_spec("02"))
    assert "genlab.losses.kl_divergence" in names and "genlab.models.vae.reparameterize" in names
