"""A sandbox for LLM-written LaRe code: the code runs in a separate, locked-down worker process.

Why: LaRe `exec`s Python an LLM wrote (research/oni_lare.md, pitfall 10). A wrong or hostile reply must never
touch the run, the files or the network, and a hang or a memory blow-up must cost one candidate, not the run.
Three layers, each enough to stop the common escapes on its own:

1. **AST check** (`check_code`, in the parent and again in the worker): imports only from `ALLOWED_MODULES`; no
   dunder names or attributes (`__subclasses__`, `__globals__`, `__builtins__`...), no frame/code/generator
   internals (`gi_frame`, `f_back`...), no `exec`/`eval`/`open`/`compile`/`getattr`..., no file I/O attributes of
   numpy (`load`, `tofile`, `ctypes`...), no classes. A violation is a one-line `SandboxError` with the line number.
2. **Restricted namespace**: the code sees a small builtins dict without `open`, `eval`, `getattr`..., and an
   `__import__` that hands out fresh copies of the allowed modules stripped of their sub-modules (so
   `statistics.sys` does not exist).
3. **OS jail** in the worker (`lock_down`): started with `python -I`, no inherited fds (stdin/stdout pipes only,
   stray prints go to /dev/null), privileges dropped to `nobody` when started as root, then `setrlimit`:
   RLIMIT_NOFILE at the fds already open (no new file, socket or pipe can be opened), RLIMIT_NPROC 0 (no fork),
   RLIMIT_FSIZE 0 (no file writes), RLIMIT_AS (memory), RLIMIT_CPU per call; the parent adds a wall-clock timeout
   per call and kills the worker when it runs past it.

The jail is Linux-specific (it reads /proc and relies on Linux `setrlimit` semantics). The code is compiled once
per worker; states go over the pipe in batches (JSON in, raw float64 out, so the parent never unpickles anything
the worker sends). Run as a script, this file is the worker; it imports only the standard library and numpy.
"""

from __future__ import annotations

import ast
import contextlib
import json
import math
import os
import select
import signal
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from typing import Any

ALLOWED_MODULES = ("math", "statistics", "re", "numpy", "numpy.linalg", "numpy.random")
"""Modules the generated code may import (the issue's allow-list; numpy's linalg and random come with numpy)."""

FORBIDDEN_NAMES = frozenset({
    "exec", "eval", "compile", "open", "input", "breakpoint", "help", "globals", "locals", "vars", "dir",
    "getattr", "setattr", "delattr", "memoryview", "type", "object", "super", "exit", "quit", "classmethod",
    "staticmethod", "property",
})
"""Builtins that give reflection, code execution or I/O; the restricted namespace lacks them too."""

FORBIDDEN_ATTRS = frozenset({
    # frames, code objects, generators and tracebacks lead back to unrestricted globals
    "gi_frame", "gi_code", "gi_yieldfrom", "cr_frame", "cr_code", "cr_await", "ag_frame", "ag_code",
    "f_globals", "f_locals", "f_builtins", "f_back", "f_code", "tb_frame", "tb_next", "co_code", "mro",
    # str.format can reach attributes by name, past the AST check
    "format", "format_map",
    # numpy file and raw-memory access
    "ctypes", "ctypeslib", "tofile", "dump", "dumps", "load", "loads", "loadtxt", "genfromtxt", "fromfile",
    "fromregex", "save", "savez", "savez_compressed", "savetxt", "memmap", "DataSource", "lib", "testing",
    "f2py", "distutils", "show_config", "show_runtime",
    "os", "sys",
})
"""Attribute names the code may not use, whatever the object."""

MAX_CODE_CHARS = 50_000
ENTRY = "evaluate"
"""The function the generated code must define: `evaluate(state: dict) -> list[float]`."""

class SandboxError(Exception):
    """Generated code was rejected or failed; the message is one line (it is also fed back to the LLM)."""


@dataclass
class SandboxLimits:
    """Resource limits of one worker (LaReConfig exposes them)."""

    cpu_seconds: int = 10
    """CPU seconds one call (a batch of states) may use; the kernel kills the worker past it."""
    wall_seconds: float = 30.0
    """Wall-clock seconds one call may take before the parent kills the worker."""
    memory_mb: int = 512
    """Address space the code may add on top of the worker's own (RLIMIT_AS)."""
    max_factors: int = 64
    """The longest list `evaluate` may return."""


# -------------------------------------------------------------------------------------------------------------
# Layer 1: the AST check (shared by parent and worker)
# -------------------------------------------------------------------------------------------------------------
def check_code(source: str, entry: str = ENTRY) -> None:
    """Reject code that breaks a sandbox rule, with a one-line reason naming the line; None when it passes."""
    if not isinstance(source, str) or not source.strip():
        raise SandboxError("the code is empty")
    if len(source) > MAX_CODE_CHARS:
        raise SandboxError(f"the code is {len(source)} characters long; at most {MAX_CODE_CHARS} are allowed")
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        raise SandboxError(f"line {err.lineno}: syntax error: {err.msg}") from None
    allowed = ", ".join(sorted({m.split(".")[0] for m in ALLOWED_MODULES}))
    for node in ast.walk(tree):
        line = f"line {getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name not in ALLOWED_MODULES:
                    raise SandboxError(f"{line}: import of {alias.name!r} is not allowed (allowed: {allowed})")
        elif isinstance(node, ast.ImportFrom):
            if node.level or node.module not in ALLOWED_MODULES:
                raise SandboxError(f"{line}: import from {node.module!r} is not allowed (allowed: {allowed})")
            for alias in node.names:
                if alias.name == "*" or alias.name.startswith("_") or alias.name in FORBIDDEN_ATTRS:
                    raise SandboxError(f"{line}: importing {alias.name!r} from {node.module} is not allowed")
        elif isinstance(node, ast.Attribute):
            if node.attr.startswith("_"):
                raise SandboxError(f"{line}: access to the private attribute {node.attr!r} is not allowed")
            if node.attr in FORBIDDEN_ATTRS:
                raise SandboxError(f"{line}: access to the attribute {node.attr!r} is not allowed")
        elif isinstance(node, ast.Name):
            if node.id.startswith("__"):
                raise SandboxError(f"{line}: the name {node.id!r} is not allowed")
            if node.id in FORBIDDEN_NAMES:
                raise SandboxError(f"{line}: {node.id!r} is not allowed")
        elif isinstance(node, ast.ClassDef):
            raise SandboxError(f"{line}: class definitions are not allowed; write plain functions")
        elif isinstance(node, (ast.AsyncFunctionDef, ast.Await, ast.AsyncFor, ast.AsyncWith)):
            raise SandboxError(f"{line}: async code is not allowed")
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            for name in node.names:
                if name.startswith("__"):
                    raise SandboxError(f"{line}: the name {name!r} is not allowed")
        elif isinstance(node, ast.arg) and node.arg.startswith("__"):
            raise SandboxError(f"{line}: the name {node.arg!r} is not allowed")
    if not any(isinstance(n, ast.FunctionDef) and n.name == entry for n in tree.body):
        raise SandboxError(f"the code defines no top-level function {entry!r}(state)")


# -------------------------------------------------------------------------------------------------------------
# Layer 2: the restricted namespace (built in the worker)
# -------------------------------------------------------------------------------------------------------------
_SAFE_BUILTIN_NAMES = (
    "abs", "all", "any", "bool", "dict", "divmod", "enumerate", "filter", "float", "frozenset", "int",
    "isinstance", "len", "list", "map", "max", "min", "pow", "range", "reversed", "round", "set", "slice",
    "sorted", "str", "sum", "tuple", "zip", "chr", "ord", "hash", "iter", "next", "callable",
    "Exception", "ArithmeticError", "AssertionError", "IndexError", "KeyError", "LookupError", "StopIteration",
    "TypeError", "ValueError", "ZeroDivisionError", "OverflowError", "True", "False", "None",
)


def _module_copy(module: Any, submodules: dict[str, Any]) -> Any:
    """A fresh module holding only `module`'s public, non-module, allowed attributes (plus allowed sub-modules)."""
    import types

    copy = types.ModuleType(module.__name__)
    for name, value in list(vars(module).items()):  # loaded attributes only: lazy sub-modules stay out
        if name.startswith("_") or name in FORBIDDEN_ATTRS:
            continue
        if isinstance(value, types.ModuleType):
            value = submodules.get(f"{module.__name__}.{name}")
            if value is None:
                continue
        setattr(copy, name, value)
    return copy


def restricted_globals() -> dict[str, Any]:
    """The globals the generated code runs in: safe builtins and an importer limited to `ALLOWED_MODULES`."""
    import builtins
    import importlib

    real = {name: importlib.import_module(name) for name in ALLOWED_MODULES}
    copies: dict[str, Any] = {}
    for name in sorted(ALLOWED_MODULES, key=lambda n: -n.count(".")):  # sub-modules first
        copies[name] = _module_copy(real[name], copies)

    def safe_import(name: str, globals_: Any = None, locals_: Any = None, fromlist: Any = (), level: int = 0) -> Any:
        if level or name not in copies:
            raise ImportError(f"import of {name!r} is not allowed")
        return copies[name] if fromlist else copies[name.split(".")[0]]

    safe = {name: getattr(builtins, name) for name in _SAFE_BUILTIN_NAMES}
    safe["__import__"] = safe_import
    safe["print"] = lambda *args, **kwargs: None  # debugging prints are harmless: dropped
    return {"__builtins__": safe, "__name__": "lare_generated"}


# -------------------------------------------------------------------------------------------------------------
# Layer 3: the OS jail (run in the worker before it reads any code)
# -------------------------------------------------------------------------------------------------------------
def _address_space_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def private_reply_fd() -> int:
    """Move the reply pipe (stdout) to fd 3 and point fds 1 and 2 at /dev/null, so stray prints cannot corrupt
    replies; every other fd is closed. Returns 3."""
    reply_fd = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)
    if reply_fd != 3:
        os.dup2(reply_fd, 3)
        os.close(reply_fd)
    os.closerange(4, 65536)
    return 3


def lock_down(limits: SandboxLimits, open_fds: int = 4) -> None:
    """Jail the current process, whose fds below `open_fds` are the only ones open (see `private_reply_fd`).

    After this the process cannot open files or sockets, fork, write to files, or grow past its memory limit.
    Everything the code may import must be imported before (the worker does it via `restricted_globals`)."""
    import resource

    address_space = _address_space_bytes()
    if os.getuid() == 0:  # root ignores RLIMIT_NPROC and may raise limits again: become nobody first
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (open_fds, open_fds))
    if address_space:
        cap = address_space + limits.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def _set_cpu_budget(seconds: int) -> None:
    """Let the next call use `seconds` more CPU seconds (SIGXCPU kills the worker past it)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = math.ceil(usage.ru_utime + usage.ru_stime)
    hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
    soft = used + seconds
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


# -------------------------------------------------------------------------------------------------------------
# The wire format: requests are length-prefixed JSON, replies a fixed header + error text + float64 rows
# -------------------------------------------------------------------------------------------------------------
_REQ_HEADER = struct.Struct(">I")
_REPLY_HEADER = struct.Struct(">BIII")  # kind (0 ok, 1 fatal), rows, cols, error length
_MAX_ERROR_BYTES = 2000


def _read_exact(fd: int, n: int, deadline: float | None = None) -> bytes:
    chunks, got = [], 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _reply(fd: int, kind: int, rows: int = 0, cols: int = 0, error: str = "", data: bytes = b"") -> None:
    err = error.encode("utf-8", "replace")[:_MAX_ERROR_BYTES]
    _write_all(fd, _REPLY_HEADER.pack(kind, rows, cols, len(err)) + err + data)


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}"[:300] if text else type(err).__name__


def _as_factors(out: Any, max_factors: int) -> list[float]:
    """`evaluate`'s return value as a list of finite floats; `TypeError`/`ValueError` saying what is wrong.

    Plain Python (no numpy per state): on short lists of numbers this check would otherwise cost more than the code."""
    if hasattr(out, "ndim") and hasattr(out, "tolist"):  # a numpy array: flat, or the paper's (d, 1) column
        if out.ndim == 2 and out.shape[1] == 1:
            out = out[:, 0]
        if out.ndim != 1:
            raise ValueError(f"evaluate must return a flat list of floats, got an array of shape {tuple(out.shape)}")
        out = out.tolist()
    if not isinstance(out, (list, tuple)):
        raise TypeError(f"evaluate must return a list of floats, got {type(out).__name__}")
    if not 1 <= len(out) <= max_factors:
        raise ValueError(f"evaluate must return a flat list of 1 to {max_factors} floats, got {len(out)} values")
    kinds = set(map(type, out))
    if str in kinds or bytes in kinds:
        raise ValueError("evaluate returned a string among its values")
    values = list(map(float, out))  # ints, bools, numpy scalars, one-element arrays; TypeError for the rest
    if not all(map(math.isfinite, values)):
        bad = next(j for j, f in enumerate(values) if not math.isfinite(f))
        raise ValueError(f"evaluate returned a non-finite value at index {bad}")
    return values


def _evaluate_batch(func: Any, states: list[Any], max_factors: int) -> tuple[int, str, bytes]:
    """Run `func` on every state; returns (cols, the first failing state's error, float64 rows, NaN where failed)."""
    import numpy as np

    rows: list[list[float] | None] = []
    error, cols = "", 0
    for i, state in enumerate(states):
        try:
            values = _as_factors(func(state), max_factors)
            if cols and len(values) != cols:
                raise ValueError(f"evaluate returned {len(values)} values here but {cols} for an earlier state")
            cols = len(values)
            rows.append(values)
        except BaseException as err:  # noqa: BLE001 -- anything the code raises is that state's error
            if isinstance(err, KeyboardInterrupt):
                raise
            rows.append(None)
            error = error or f"state {i}: {_one_line(err)}"
    nan_row = [math.nan] * cols
    return cols, error, np.array([r if r is not None else nan_row for r in rows],
                                            dtype=np.float64).reshape(len(states), cols).tobytes()


def _worker_main() -> None:
    """The worker: jail itself, compile the code once, then answer batches of states until stdin closes."""
    limits = SandboxLimits(**json.loads(sys.argv[1]))
    signal.signal(signal.SIGXCPU, signal.SIG_DFL)  # an ignored SIGXCPU inherited from the parent would void the CPU limit
    reply_fd = private_reply_fd()
    try:
        namespace = restricted_globals()  # imports the allowed modules before the jail closes the door
        lock_down(limits)
    except Exception as err:  # e.g. a container that forbids setuid: say so instead of dying silently
        _reply(reply_fd, 1, error=f"the sandbox could not jail its worker: {_one_line(err)}")
        return
    header = _read_exact(0, _REQ_HEADER.size)
    request = json.loads(_read_exact(0, _REQ_HEADER.unpack(header)[0]))
    try:
        check_code(request["code"], request["entry"])
        _set_cpu_budget(limits.cpu_seconds)
        exec(compile(request["code"], "<lare-code>", "exec"), namespace)  # noqa: S102 -- the sandboxed call
        func = namespace.get(request["entry"])
        if not callable(func):
            raise SandboxError(f"{request['entry']!r} is not a function")
    except BaseException as err:  # noqa: BLE001
        _reply(reply_fd, 1, error=str(err) if isinstance(err, SandboxError) else f"while loading: {_one_line(err)}")
        return
    _reply(reply_fd, 0)
    while True:
        try:
            header = _read_exact(0, _REQ_HEADER.size)
        except EOFError:
            return
        states = json.loads(_read_exact(0, _REQ_HEADER.unpack(header)[0]))
        _set_cpu_budget(limits.cpu_seconds)
        cols, error, data = _evaluate_batch(func, states, limits.max_factors)
        _reply(reply_fd, 0, len(states), cols, error, data)


# -------------------------------------------------------------------------------------------------------------
# The parent side
# -------------------------------------------------------------------------------------------------------------
@dataclass
class BatchResult:
    """Factors of a batch of states: NaN rows where `evaluate` failed on that state."""

    factors: Any
    """float64 array [n_states, d]."""
    n_failed: int
    first_error: str
    """The first failing state's error, one line ("" when every state passed)."""


def _plain(value: Any) -> Any:
    """JSON fallback for state values: numpy scalars and arrays as numbers and lists, anything else as text."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


class Sandbox:
    """One worker process running one piece of generated code; `evaluate(states)` calls it on a batch.

    Raises `SandboxError` (one line) when the code is rejected, fails to load, or the worker is killed (CPU,
    memory, wall time, crash); a killed worker is restarted on the next call."""

    def __init__(self, code: str, limits: SandboxLimits | None = None, entry: str = ENTRY) -> None:
        check_code(code, entry)
        self.code, self.entry = code, entry
        self.limits = limits or SandboxLimits()
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._start()

    def _start(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="credo-lare-")
        os.chmod(self._tmp.name, 0o755)
        threads = {k: "1" for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
        self._proc = subprocess.Popen(
            [sys.executable, "-I", os.path.abspath(__file__), json.dumps(asdict(self.limits))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=self._tmp.name,
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", **threads}, close_fds=True, start_new_session=True,
        )
        payload = json.dumps({"code": self.code, "entry": self.entry}).encode()
        self._exchange(payload, rows_expected=0, startup=True)

    def _exchange(self, payload: bytes, rows_expected: int, startup: bool = False) -> BatchResult:
        import numpy as np

        proc = self._proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        # the worker imports numpy before it reads anything: give start-up its own allowance
        deadline = time.monotonic() + self.limits.wall_seconds + (30.0 if startup else 0.0)
        try:
            _write_all(proc.stdin.fileno(), _REQ_HEADER.pack(len(payload)) + payload)
            fd = proc.stdout.fileno()
            kind, rows, cols, err_len = _REPLY_HEADER.unpack(_read_exact(fd, _REPLY_HEADER.size, deadline))
            if err_len > _MAX_ERROR_BYTES or rows != rows_expected or cols > self.limits.max_factors:
                self._kill()
                raise SandboxError("the worker sent a malformed reply (killed)")
            error = _read_exact(fd, err_len, deadline).decode("utf-8", "replace") if err_len else ""
            if kind == 1:
                self._kill()
                raise SandboxError(error or "the code failed to load")
            data = _read_exact(fd, rows * cols * 8, deadline) if rows * cols else b""
        except TimeoutError:
            self._kill()
            wall = self.limits.wall_seconds
            raise SandboxError(f"the code ran longer than {wall:g} s of wall time (killed)") from None
        except (EOFError, BrokenPipeError, OSError):
            raise SandboxError(self._death_reason()) from None
        factors = np.frombuffer(data, dtype=np.float64).reshape(rows, cols) if rows * cols else np.zeros((rows, 0))
        n_failed = rows if cols == 0 else int(np.isnan(factors).any(axis=1).sum())
        return BatchResult(factors.copy(), n_failed, error)

    def _death_reason(self) -> str:
        assert self._proc is not None
        try:
            code = self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        self._kill()
        if code == -signal.SIGXCPU:
            return f"the code used more than {self.limits.cpu_seconds} s of CPU time (killed)"
        if code is not None and code < 0:
            return f"the sandbox worker died from signal {signal.Signals(-code).name} (memory or a crash)"
        return f"the sandbox worker exited unexpectedly (status {code})"

    def evaluate(self, states: list[dict[str, Any]], batch_size: int = 1024) -> BatchResult:
        """`evaluate(state)` on every state, in batches of `batch_size` per message."""
        import numpy as np

        if not states:
            return BatchResult(np.zeros((0, 0)), 0, "")
        parts: list[BatchResult] = []
        for start in range(0, len(states), batch_size):
            if self._proc is None:
                self._start()
            chunk = states[start:start + batch_size]
            payload = json.dumps(chunk, default=_plain).encode()
            parts.append(self._exchange(payload, rows_expected=len(chunk)))
        widths = {p.factors.shape[1] for p in parts if p.factors.shape[1]}
        if len(widths) > 1:
            raise SandboxError(f"evaluate returned lists of different lengths across states: {sorted(widths)}")
        d = widths.pop() if widths else 0
        factors = np.vstack([p.factors if p.factors.shape[1] else np.full((len(p.factors), d), np.nan)
                             for p in parts])
        errors = [p.first_error for p in parts if p.first_error]
        return BatchResult(factors, sum(p.n_failed for p in parts), errors[0] if errors else "")

    def _kill(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()
            for stream in (self._proc.stdin, self._proc.stdout):
                if stream is not None:
                    stream.close()
            self._proc = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def close(self) -> None:
        """Stop the worker and remove its temp folder."""
        self._kill()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # at interpreter shutdown there may be nothing left to clean
            self._kill()


if __name__ == "__main__":
    _worker_main()
