"""A running service for tests that need real concurrency: uvicorn on 127.0.0.1, in a thread or a subprocess."""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """Return a TCP port free on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def threaded(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a thread; yield its base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def subprocess_server(env: dict[str, str], log: Path) -> Iterator[tuple[str, int]]:
    """Run ``rivergis``'s app in a uvicorn subprocess (access log on); yield its base URL and pid."""
    port = free_port()
    code = (
        "import uvicorn; from gis_service.api.app import create_app; "
        f"uvicorn.run(create_app(), host='127.0.0.1', port={port}, log_level='info')"
    )
    full_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", code], env=full_env, stdout=out, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):
                if proc.poll() is not None:
                    raise RuntimeError(log.read_text())
                try:
                    httpx.get(f"{base}/healthz", timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.05)
            yield base, proc.pid
        finally:
            proc.terminate()
            proc.wait(10)


def peak_rss_kb(pid: int) -> int:
    """Return a process's peak resident memory so far (``VmHWM``), in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def reset_peak(pid: int) -> None:
    """Reset a process's peak-memory mark to its current size (Linux ≥ 4.0, ``clear_refs`` 5)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def stream_body(base: str, path: str, total: int, headers: dict[str, str], chunk: int = 1024 * 1024) -> tuple[int, int]:
    """POST ``total`` bytes as a chunked body, stopping when the server answers; return (status, bytes sent)."""
    host, port = base.removeprefix("http://").split(":")
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    sent = 0
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n{head}\r\n".encode())
        piece = f"{chunk:x}\r\n".encode() + b"x" * chunk + b"\r\n"
        try:
            while sent < total:
                readable, _, _ = select.select([sock], [], [], 0)
                if readable:
                    break
                sock.sendall(piece)
                sent += chunk
            else:
                sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        try:
            sock.settimeout(30)
            while b"\r\n" not in answer:
                data = sock.recv(4096)
                if not data:
                    break
                answer += data
        except (ConnectionResetError, TimeoutError):
            pass
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0
    return status, sent
