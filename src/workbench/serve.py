"""`workbench dashboards`: serve the Voila dashboards (看板) in notebooks/dashboards/ and print their address.

Voila runs with the repository's settings (notebooks/dashboards/voila.json: no data files served, sources
stripped, no tracebacks, kernel culling, per-cell timeout, pre-started kernels), on the sample county unless
--data names another folder (passed to the dashboards as $WORKBENCH_DATA).
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS_DIR = REPO_ROOT / "notebooks" / "dashboards"
SAMPLES_DIR = REPO_ROOT / "data" / "samples"

DASHBOARD_TITLES = {
    "overview.ipynb": "总览",
    "special_groups.ipynb": "特殊群体",
    "mentoring.ipynb": "结对帮扶",
    "followup.ipynb": "疑似问题跟踪",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=8866, help="端口（默认 8866；被占用时报错而不是换端口）")
    parser.add_argument("--ip", default="127.0.0.1", help="监听地址（默认只在本机可访问）")
    parser.add_argument("--data", metavar="DIR", help="数据文件夹（默认 data/samples 模拟县数据）")
    parser.add_argument("--token", nargs="?", const="auto", default=None,
                        help="访问口令；只写 --token 时自动生成一个")
    parser.add_argument("--no-preheat", action="store_true", help="不预先启动内核（省内存，首次打开较慢）")


def ensure_samples(folder: Path = SAMPLES_DIR) -> Path:
    """The sample county's folder, generated when it is missing or empty."""
    if folder.is_dir() and any(p.is_file() and not p.name.startswith(".") for p in folder.rglob("*")):
        return folder
    print(f"未找到样例数据，正在生成模拟县数据到 {folder} …", flush=True)
    from .cli import main as cli_main

    code = cli_main(["samples", str(folder)])
    if code:
        raise SystemExit(code)
    return folder


def port_free(port: int, ip: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((ip, port))
        except OSError:
            return False
        return True


def voila_command(port: int, ip: str = "127.0.0.1", token: str | None = None, preheat: bool = True,
                  extra: list[str] | None = None) -> list[str]:
    """The Voila command line for notebooks/dashboards/ (run with that folder as working directory)."""
    cmd = [
        sys.executable, "-m", "voila", str(DASHBOARDS_DIR), "--no-browser",
        f"--port={port}", f"--Voila.ip={ip}", "--Voila.port_retries=0",
    ]
    if token:
        cmd.append(f"--token={token}")
    if not preheat:
        cmd.append("--VoilaConfiguration.preheat_kernel=False")
    return cmd + list(extra or [])


def voila_env(data: Path | None = None, ledger: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    if data is not None:
        env["WORKBENCH_DATA"] = str(data.resolve())
    if ledger is not None:
        env["WORKBENCH_LEDGER"] = ledger
    env.setdefault("PYTHONWARNINGS", "ignore")
    return env


def wait_until_up(url: str, proc: subprocess.Popen | None = None, timeout: float = 120.0) -> bool:
    """Poll the tree page (it starts no kernel) until Voila answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status < 500:
                    return True
        except urllib.error.HTTPError as exc:  # 403 with a token: the server is up
            if exc.code < 500:
                return True
        except OSError:
            pass
        time.sleep(0.3)
    return False


def run(args: argparse.Namespace) -> int:
    if args.data:
        data = Path(args.data)
        if not data.is_dir():
            print(f"数据文件夹不存在：{data}", file=sys.stderr)
            return 2
    else:
        data = ensure_samples()
    if not port_free(args.port, args.ip):
        print(f"端口 {args.port} 已被占用，请用 --port 指定其他端口", file=sys.stderr)
        return 2
    token = secrets.token_urlsafe(16) if args.token == "auto" else args.token
    cmd = voila_command(args.port, args.ip, token, preheat=not args.no_preheat)
    proc = subprocess.Popen(cmd, cwd=DASHBOARDS_DIR, env=voila_env(data))

    def _stop(signum, frame):  # a service manager's SIGTERM stops Voila and its kernels too
        raise KeyboardInterrupt

    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, _stop)
    host = "localhost" if args.ip in ("127.0.0.1", "0.0.0.0", "") else args.ip
    base = f"http://{host}:{args.port}/"
    query = f"?token={token}" if token else ""
    try:
        if not wait_until_up(f"http://127.0.0.1:{args.port}/" if args.ip in ("127.0.0.1", "0.0.0.0") else base,
                             proc):
            print("看板服务启动失败，请查看上面的日志", file=sys.stderr)
            proc.terminate()
            return 1
        print(flush=True)
        print(f"看板已启动（数据：{data}）。在浏览器中打开：", flush=True)
        print(f"  {base}{query}", flush=True)
        for name, title in DASHBOARD_TITLES.items():
            if (DASHBOARDS_DIR / name).exists():
                print(f"  {title}：{base}voila/render/{name}{query}", flush=True)
        print("按 Ctrl+C 停止。", flush=True)
        return proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        return 0
