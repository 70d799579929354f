"""`make bench`: needlecheck against a `rasa init` default bot, measured in the same run.

For each assistant: full `rasa train` time, time from start to ready, latency per REST
message (for needlecheck with the action server and the database writes included), and
resident memory of its server processes. Prints a table with the ratios and writes
var/bench.json. A benchmark, not a test: the numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

from needlecheck.security.tokens import health_request

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
NEEDLECHECK_PORT = 5097
DEFAULT_BOT_PORT = 5098
FRONTDESK_PORT = 8097
API_TOKEN = "bench-api-token"

# One full screening, as a person types it, in the order the questions come: the answer
# about recent procedures triggers the assessment (stored in the database), then a question
# and a thank-you. tests/e2e/test_assistant.py checks that it still reaches its outcome.
SCREENING = [
    "hi",
    "yes",
    "none of these",
    "I'm 34, on tretinoin, never took Accutane",
    "my face and neck",
    "acne scars",
    "just tretinoin, nothing else",
    "no",
    "no",
    "I have diabetes",
    "no, nothing else",
    "no",
    "no",
    "no",
    "I had botox three weeks ago",
    "what's the aftercare?",
    "thanks",
]
DEFAULT_BOT_CONVERSATION = ["hello", "I am sad", "yes", "great", "are you a bot?", "bye"]

# The performance issue's floors (docs/performance.md): (what, the limit, the figure).
FLOORS = (
    ("start to ready", "<= 15 s", lambda ours, _: ours["ready_s"] <= 15),
    ("resident memory of the three servers", "<= 600 MiB", lambda ours, _: ours["rss_mb"] <= 600),
    (
        "p50",
        "<= 0.3 x the default bot's",
        lambda ours, theirs: ours["p50_ms"] <= 0.3 * theirs["p50_ms"],
    ),
    ("p95", "<= 50 ms", lambda ours, _: ours["p95_ms"] <= 50),
)


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        RASA_TELEMETRY_ENABLED="false",
        TF_CPP_MIN_LOG_LEVEL="2",
        SQLALCHEMY_SILENCE_UBER_WARNING="1",
    )
    return env


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(
        command, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return time.perf_counter() - start


def get(url: str | urllib.request.Request) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def post(port: int, sender: str, message: str) -> float:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/webhooks/rest/webhook",
        data=json.dumps({"sender": sender, "message": message}).encode(),
        headers={"Content-Type": "application/json"},
    )
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        replies = json.load(response)
    elapsed = time.perf_counter() - start
    if not replies:
        raise RuntimeError(f"no reply to {message!r}")
    return elapsed


def resident_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MiB."""
    pids = {pid} | {
        int(p.name)
        for p in Path("/proc").iterdir()
        if p.name.isdigit() and _is_descendant(int(p.name), pid)
    }
    total_kb = 0
    for p in pids:
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        total_kb += next(
            (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0
        )
    return total_kb / 1024


def _is_descendant(pid: int, ancestor: int) -> bool:
    while pid > 1:
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            return False
        if pid == ancestor:
            return True
    return False


def start(
    command: list[str],
    cwd: Path,
    env: dict[str, str],
    ready_urls: list[str | urllib.request.Request],
    log: Path,
) -> tuple[subprocess.Popen, float]:
    begin = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    while not all(get(url) for url in ready_urls):
        if process.poll() is not None:
            raise RuntimeError(f"{command[0]} exited; see {log}")
        if time.perf_counter() - begin > 600:
            raise RuntimeError(f"not ready after 600 s; see {log}")
        time.sleep(0.1)
    return process, time.perf_counter() - begin


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def converse(port: int, messages: list[str], conversations: int) -> list[float]:
    latencies: list[float] = []
    for _ in range(conversations):
        sender = "bench-" + uuid.uuid4().hex[:8]
        latencies.extend(post(port, sender, m) for m in messages)
    return latencies


def summary(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "messages": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def start_needlecheck(
    work: Path, model: Path, env: dict[str, str], port: int, frontdesk_port: int
) -> tuple[subprocess.Popen, float]:
    """`needlecheck run` on a fresh SQLite database under `work`; (process, seconds to ready)."""
    run_env = {
        **env,
        "NEEDLECHECK_VAR_DIR": str(work / "var"),
        "NEEDLECHECK_RASA_PORT": str(port),
        "NEEDLECHECK_FRONTDESK_PORT": str(frontdesk_port),
        # The action server answers its health check only with the secret, Rasa's
        # /status only with the API token.
        "NEEDLECHECK_ACTION_SECRET": "bench-action-secret",
        "NEEDLECHECK_API_TOKEN": API_TOKEN,
        # Every bench conversation comes from 127.0.0.1 (as in `make load`).
        "NEEDLECHECK_ADDRESS_RATE": "0/60",
    }
    run_env.pop("DATABASE_URL", None)
    subprocess.run(
        [str(BIN / "needlecheck"), "db", "upgrade"],
        cwd=ROOT,
        env=run_env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return start(
        [str(BIN / "needlecheck"), "run", "--model", str(model)],
        ROOT,
        run_env,
        [
            f"http://127.0.0.1:{port}/status?token={API_TOKEN}",
            health_request("http://127.0.0.1:5055/health", "bench-action-secret"),
            f"http://127.0.0.1:{frontdesk_port}/healthz",
        ],
        work / "needlecheck.log",
    )


def bench_needlecheck(work: Path, conversations: int, env: dict[str, str]) -> dict:
    models = work / "needlecheck-models"
    train = timed(
        [
            str(BIN / "rasa"),
            "train",
            "--force",
            "--fixed-model-name",
            "needlecheck",
            "--out",
            str(models),
        ],
        ROOT,
        env,
    )
    process, ready = start_needlecheck(
        work, models / "needlecheck.tar.gz", env, NEEDLECHECK_PORT, FRONTDESK_PORT
    )
    return measure(process, NEEDLECHECK_PORT, SCREENING, conversations, train, ready)


def bench_default_bot(work: Path, conversations: int, env: dict[str, str]) -> dict:
    bot = work / "default-bot"
    bot.mkdir()
    train = timed([str(BIN / "rasa"), "init", "--no-prompt", "--init-dir", str(bot)], bot, env)
    (model,) = (bot / "models").glob("*.tar.gz")
    process, ready = start(
        [
            str(BIN / "rasa"),
            "run",
            "--model",
            str(model),
            "--port",
            str(DEFAULT_BOT_PORT),
            "--interface",
            "127.0.0.1",
            "--enable-api",
        ],
        bot,
        env,
        [f"http://127.0.0.1:{DEFAULT_BOT_PORT}/status"],
        work / "default-bot.log",
    )
    # Its conversations are shorter: three of them for each screening, for a like count.
    return measure(
        process, DEFAULT_BOT_PORT, DEFAULT_BOT_CONVERSATION, conversations * 3, train, ready
    )


def measure(
    process: subprocess.Popen,
    port: int,
    messages: list[str],
    conversations: int,
    train: float,
    ready: float,
) -> dict:
    """Warm up, time the conversations, read the memory, stop the servers."""
    try:
        converse(port, messages, 2)
        latencies = converse(port, messages, conversations)
        memory = resident_mb(process.pid)
    finally:
        stop(process)
    return {
        "train_s": round(train, 1),
        "ready_s": round(ready, 1),
        **summary(latencies),
        "rss_mb": round(memory),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--conversations", type=int, default=20, help="full screenings to time (default 20)"
    )
    parser.add_argument("--skip-default-bot", action="store_true", help="measure needlecheck only")
    args = parser.parse_args()
    env = environment()
    work = Path(tempfile.mkdtemp(prefix="needlecheck-bench-"))
    try:
        results = {"needlecheck": bench_needlecheck(work, args.conversations, env)}
        if not args.skip_default_bot:
            results["rasa init default bot"] = bench_default_bot(work, args.conversations, env)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_table(results)
    if len(results) == 2:
        results["floors"] = floors(*results.values())
    out = ROOT / "var" / "bench.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten to {out.relative_to(ROOT)}")
    return 0


def print_table(results: dict[str, dict]) -> None:
    columns = ["train_s", "ready_s", "messages", "p50_ms", "p95_ms", "max_ms", "rss_mb"]
    print(f"{'':24s}" + "".join(f"{c:>10s}" for c in columns))
    for name, row in results.items():
        print(f"{name:24s}" + "".join(f"{row[c]:>10}" for c in columns))
    if len(results) == 2:
        ours, theirs = results.values()
        ratios = {c: f"{ours[c] / theirs[c]:.2f}" for c in columns if c != "messages" and theirs[c]}
        print(
            f"{'ratio needlecheck/default':24s}"
            + "".join(f"{ratios.get(c, ''):>10s}" for c in columns)
        )


def floors(ours: dict, theirs: dict) -> dict[str, bool]:
    """Print each floor as met or missed; the same as a mapping for var/bench.json."""
    print("\nfloors:")
    met = {}
    for what, limit, check in FLOORS:
        met[what] = check(ours, theirs)
        print(f"  {what} {limit}: {'met' if met[what] else 'MISSED'}")
    return met


if __name__ == "__main__":
    raise SystemExit(main())
