"""Cold start: process start -> first 2xx of a cart command function, against a no-op
functions-framework function measured the same way in the same run.

    python bench/coldstart.py --json [--quick]

The last line is ONE JSON object: cart_command_ms, noop_ms (medians), ratio, import_ms (median
time, in a fresh interpreter, to import ``functions.main`` and build the ``create_cart`` target,
which is what functions-framework does before it serves).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
#: Every function is served from one source; the target names the function.
CART_SOURCE = ROOT / "functions" / "main.py"
CART_TARGET = "shopping_cart_create_cart"
NOOP_SOURCE = ROOT / "bench" / "noop_function.py"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _first_2xx(port: int, path: str, body: bytes, deadline: float) -> None:
    while time.perf_counter() < deadline:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request("POST", path, body, {"Content-Type": "application/json"})
            status = connection.getresponse().status
            if 200 <= status < 300:
                return
            raise RuntimeError(f"function answered {status}")
        except (ConnectionRefusedError, ConnectionResetError, http.client.RemoteDisconnected):
            time.sleep(0.002)
        finally:
            connection.close()
    raise TimeoutError("no 2xx within the deadline")


def cold_start_ms(source: Path, target: str, path: str, body: bytes, env: dict[str, str]) -> float:
    port = _free_port()
    command = [
        str(BIN / "functions-framework"),
        "--source",
        str(source),
        "--target",
        target,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    start = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _first_2xx(port, path, body, start + 30)
        return (time.perf_counter() - start) * 1000
    finally:
        process.terminate()
        process.wait(timeout=10)


def import_ms(env: dict[str, str]) -> float:
    code = (
        "import time; t = time.perf_counter(); import functions.main; "
        f"functions.main.{CART_TARGET}; print((time.perf_counter() - t) * 1000)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    repeats = 5 if args.quick else 15
    with tempfile.TemporaryDirectory(prefix="eventualshop-coldstart-") as folder:
        env = os.environ | {"EVENTUALSHOP_DATA_DIR": folder, "PYTHONDONTWRITEBYTECODE": "0"}
        # The schema exists before the first start, as it does after `eventualshop migrate`.
        subprocess.run(
            [str(BIN / "eventualshop"), "migrate"],
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        body = json.dumps({"customerId": str(uuid.uuid4()), "currency": "USD"}).encode()
        cart, noop, imports = [], [], []
        for _ in range(repeats):  # interleaved, so drift affects both sides alike
            cart.append(
                cold_start_ms(CART_SOURCE, CART_TARGET, "/api/v1/shopping-carts", body, env)
            )
            noop.append(cold_start_ms(NOOP_SOURCE, "noop", "/", b"{}", env))
            imports.append(import_ms(env))
    result = {
        "cart_command_ms": round(statistics.median(cart), 1),
        "noop_ms": round(statistics.median(noop), 1),
        "ratio": round(statistics.median(cart) / statistics.median(noop), 3),
        "import_ms": round(statistics.median(imports), 1),
        "repeats": repeats,
    }
    if not args.json:
        for key, value in result.items():
            print(f"{key:16} {value}")
    print(json.dumps(result, separators=(",", ":")))


if __name__ == "__main__":
    main()
