"""The LaRe sandbox: good code runs in batches; hostile code is rejected, killed, or jailed by the OS."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from credit.lare_sandbox import Sandbox, SandboxError, SandboxLimits, check_code

FAST = SandboxLimits(cpu_seconds=1, wall_seconds=20.0, memory_mb=256, max_factors=16)

GOOD = """
import math
import numpy as np
from statistics import mean

def evaluate(state):
    hp = state["hp"] / max(state.get("hpmax", 1), 1)
    return [hp, float(np.sqrt(state["gold"])), math.log1p(state["depth"]), mean([1, 2, 3])]
"""


def test_good_code_runs_batched_and_reports_failing_states() -> None:
    states = [{"hp": 3, "hpmax": 10, "gold": 4, "depth": 1}, {"hp": 1}] * 50
    with Sandbox(GOOD, FAST) as sandbox:
        result = sandbox.evaluate(states, batch_size=16)  # several messages over the pipe
    assert result.factors.shape == (100, 4)
    np.testing.assert_allclose(result.factors[0], [0.3, 2.0, np.log(2.0), 2.0])
    assert np.isnan(result.factors[1::2]).all() and np.isfinite(result.factors[0::2]).all()
    assert result.n_failed == 50
    assert result.first_error == "state 1: KeyError: 'gold'"


@pytest.mark.parametrize(("code", "reason"), [
    ("import os\ndef evaluate(s):\n    return [0.0]", "import of 'os' is not allowed"),
    ("import subprocess\ndef evaluate(s):\n    return [0.0]", "import of 'subprocess' is not allowed"),
    ("import ctypes\ndef evaluate(s):\n    return [0.0]", "import of 'ctypes' is not allowed"),
    ("import socket\ndef evaluate(s):\n    return [0.0]", "import of 'socket' is not allowed"),
    ("from os import path\ndef evaluate(s):\n    return [0.0]", "import from 'os' is not allowed"),
    ("from numpy import load\ndef evaluate(s):\n    return [0.0]", "importing 'load' from numpy is not allowed"),
    ("def evaluate(s):\n    return [len(().__class__.__bases__[0].__subclasses__())]",
     "private attribute '__subclasses__'"),
    ("def evaluate(s):\n    return [len(evaluate.__globals__)]", "private attribute '__globals__'"),
    ("def evaluate(s):\n    return [len(__builtins__)]", "the name '__builtins__' is not allowed"),
    ("def evaluate(s):\n    open('/tmp/x', 'w').write('x')\n    return [0.0]", "'open' is not allowed"),
    ("def evaluate(s):\n    return [eval('1')]", "'eval' is not allowed"),
    ("def evaluate(s):\n    exec('x = 1')\n    return [0.0]", "'exec' is not allowed"),
    ("def evaluate(s):\n    return [getattr(s, 'x')]", "'getattr' is not allowed"),
    ("import numpy as np\ndef evaluate(s):\n    np.save('x.npy', [1])\n    return [0.0]", "attribute 'save'"),
    ("import numpy as np\ndef evaluate(s):\n    return [float(np.zeros(1).ctypes.data)]", "attribute 'ctypes'"),
    ("import statistics\ndef evaluate(s):\n    return [len(statistics.sys.modules)]", "attribute 'sys'"),
    ("def evaluate(s):\n    g = (x for x in [0])\n    return [len(g.gi_frame.f_back.f_globals)]",
     "attribute 'f_globals'"),
    ("def evaluate(s):\n    return [len('{0.__class__}'.format(s))]", "attribute 'format'"),
    ("class A:\n    pass\ndef evaluate(s):\n    return [0.0]", "class definitions are not allowed"),
    ("def evaluate(s)\n    return [0.0]", "syntax error"),
    ("def other(s):\n    return [0.0]", "no top-level function 'evaluate'"),
])
def test_rule_breaking_code_is_rejected_with_a_one_line_reason(code: str, reason: str) -> None:
    with pytest.raises(SandboxError) as err:
        check_code(code)
    assert reason in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(SandboxError):  # the sandbox applies the same check before starting a worker
        Sandbox(code, FAST)


def test_restricted_namespace_blocks_what_the_ast_check_lets_through() -> None:
    # `statistics.sys` passes no forbidden name here, but the importer hands out a copy without sub-modules
    code = "import statistics as st\ndef evaluate(s):\n    m = vars\n    return [0.0]"
    with pytest.raises(SandboxError, match="'vars' is not allowed"):
        check_code(code)
    code = "import statistics as st\ndef evaluate(s):\n    return [st.random.random()]"  # no forbidden name
    with Sandbox(code, FAST) as sandbox:
        result = sandbox.evaluate([{}])
    assert "AttributeError" in result.first_error and "'random'" in result.first_error


def test_infinite_loop_is_killed_by_the_cpu_limit_and_the_worker_restarts() -> None:
    code = "def evaluate(s):\n    while s.get('hang'):\n        pass\n    return [1.0]"
    with Sandbox(code, FAST) as sandbox:
        with pytest.raises(SandboxError, match="CPU time"):
            sandbox.evaluate([{"hang": True}])
        assert sandbox.evaluate([{"hang": False}]).factors.tolist() == [[1.0]]  # a fresh worker


def test_wall_clock_timeout_kills_the_worker() -> None:
    code = "def evaluate(s):\n    while True:\n        pass"
    with Sandbox(code, SandboxLimits(cpu_seconds=60, wall_seconds=1.0)) as sandbox, \
            pytest.raises(SandboxError, match="wall time"):
        sandbox.evaluate([{}])


HUGE = """
import numpy as np
def evaluate(s):
    if s["kind"] == "list":
        return [float(len([0.0] * (10 ** 10)))]
    if s["kind"] == "numpy":
        return [float(np.ones(10 ** 10).sum())]
    return [float(len("x" * (10 ** 11)))]
"""


def test_huge_allocations_fail_inside_the_memory_limit() -> None:
    with Sandbox(HUGE, FAST) as sandbox:
        for kind in ("list", "numpy", "str"):
            result = sandbox.evaluate([{"kind": kind}])
            assert result.n_failed == 1 and "MemoryError" in result.first_error, kind


BAD_OUTPUTS = """
def evaluate(s):
    k = s["kind"]
    if k == 0:
        return [1.0] * (10 ** 7)
    if k == 1:
        return 3.0
    if k == 2:
        return ["a"]
    if k == 3:
        return [float("nan")]
    return [1.0] * s["n"]
"""


def test_bad_outputs_are_reported_per_state() -> None:
    reasons = ["flat list of 1 to 16 floats", "must return a list of floats, got float", "a string among its values",
               "non-finite"]
    with Sandbox(BAD_OUTPUTS, FAST) as sandbox:
        for kind, reason in enumerate(reasons):
            result = sandbox.evaluate([{"kind": kind}, {"kind": 9, "n": 1}])
            assert result.n_failed == 1 and reason in result.first_error
            assert result.factors[1].tolist() == [1.0]  # the other state of the batch is fine
        result = sandbox.evaluate([{"kind": 9, "n": 1}, {"kind": 9, "n": 2}])
        assert "returned 2 values here but 1" in result.first_error


def test_huge_print_output_goes_nowhere() -> None:
    code = "def evaluate(s):\n    print('x' * (10 ** 7))\n    return [2.0]"
    with Sandbox(code, FAST) as sandbox:
        assert sandbox.evaluate([{}] * 3).factors.tolist() == [[2.0]] * 3


def test_errors_while_loading_the_code_are_one_line() -> None:
    with pytest.raises(SandboxError, match="while loading: ZeroDivisionError"):
        Sandbox("x = 1 / 0\ndef evaluate(s):\n    return [0.0]", FAST)
    with pytest.raises(SandboxError, match="while loading: NameError"):
        Sandbox("x = missing_name\ndef evaluate(s):\n    return [0.0]", FAST)


JAIL_PROBE = """
import json, os, socket, sys
sys.path.insert(0, {src!r})
from lare_sandbox import SandboxLimits, lock_down, private_reply_fd
lock_down(SandboxLimits(memory_mb=64), private_reply_fd() + 1)
report = {{}}
def attempt(name, fn):
    try:
        fn()
        report[name] = "allowed"
    except BaseException as err:
        report[name] = type(err).__name__
attempt("write_tmp", lambda: open({target!r}, "w").write("pwned"))
attempt("read_passwd", lambda: open("/etc/passwd").read())
attempt("socket", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
attempt("fork", lambda: os._exit(0) if os.fork() == 0 else None)
attempt("alloc", lambda: bytearray(1 << 30))
report["uid"] = os.getuid()
os.write(3, json.dumps(report).encode())
"""


def test_os_jail_blocks_files_sockets_fork_and_memory(tmp_path: Path) -> None:
    """The last layer on its own: a process that calls `lock_down` and then tries what the other layers forbid."""
    target = tmp_path / "written.txt"
    src = str(Path(__file__).parents[1] / "credit")
    probe = JAIL_PROBE.format(src=src, target=str(target))
    proc = subprocess.run([sys.executable, "-I", "-c", probe], capture_output=True, timeout=60)
    report = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    assert report["write_tmp"] != "allowed" and not target.exists()
    assert report["read_passwd"] != "allowed"
    assert report["socket"] != "allowed"
    assert report["fork"] != "allowed"
    assert report["alloc"] == "MemoryError"
    assert report["uid"] != 0  # started as root, the jail drops to nobody (root ignores RLIMIT_NPROC)
