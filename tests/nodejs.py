"""Node.js and the AWS SDK for JavaScript v3 for the tests (tests/js): found on the machine, or installed.

Node.js >= 20 (what the SDK's `engines` asks for) is taken from the PATH; without it, Debian's `nodejs` and
`npm` packages are installed (as root, with apt-get). The SDK is installed with `npm ci` from
tests/js/package-lock.json into tests/js/node_modules, once: a file lock keeps the pytest-xdist workers from
installing it at the same time, and a copy of the lock file marks an install that finished.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

JS = Path(__file__).resolve().parent / "js"
MIN_NODE = 20


class NodeUnavailable(RuntimeError):
    pass


def _major(node: str) -> int:
    done = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30, check=True)
    return int(done.stdout.strip().lstrip("v").split(".")[0])


def _tools() -> tuple[str, str] | None:
    node, npm = shutil.which("node"), shutil.which("npm")
    return (node, npm) if node and npm else None


def _install_debian_packages() -> None:
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise NodeUnavailable(f"Node.js >= {MIN_NODE} with npm is needed for tests/js: install it, as root")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print("installing Debian's nodejs and npm packages for the tests ...", file=sys.stderr, flush=True)
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", "nodejs", "npm"],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )


def install() -> str:
    """The `node` to run tests/js scripts with, the SDK installed beside them."""
    with open(JS / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        tools = _tools()
        if tools is None:
            _install_debian_packages()
            tools = _tools()
            if tools is None:
                raise NodeUnavailable("installed nodejs and npm but found no node or npm on the PATH")
        node, npm = tools
        if _major(node) < MIN_NODE:
            raise NodeUnavailable(f"{node} is Node.js {_major(node)}; the AWS SDK needs >= {MIN_NODE}")
        wanted = (JS / "package-lock.json").read_bytes()
        marker = JS / "node_modules" / ".installed-lock.json"
        if not marker.exists() or marker.read_bytes() != wanted:
            subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=JS,
                check=True,
                timeout=600,
                stdout=subprocess.DEVNULL,
            )
            marker.write_bytes(wanted)
        return node
