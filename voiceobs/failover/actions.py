"""The actions a hook can take, each one attempt at a time.

An action makes exactly one attempt and reports what happened as an
``Attempt``; retries, backoff and the audit trail belong to the delivery
loop, so every action gets the same policy and the same records. Actions
never raise: a target that is down, slow or broken is an outcome, not an
exception, because monitoring must not break the evaluation that runs it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

import httpx

from voiceobs._version import __version__
from voiceobs.failover.payload import Notification
from voiceobs.failover.spec import Hook, resolve_entry_point
from voiceobs.results import utcnow

USER_AGENT = f"voiceobs/{__version__}"
DEFAULT_SIGNATURE_HEADER = "X-Voiceobs-Signature"
DEFAULT_EXPIRE_AFTER = 86400.0  # seconds an Alertmanager alert lives unless re-sent or resolved
IDEMPOTENCY_HEADER = "Idempotency-Key"  # the IETF httpapi draft's name, which most receivers know


@dataclass
class Attempt:
    """What one try did: ``ok``, ``failed`` or ``timeout``, and whether trying again may help."""

    outcome: str
    retryable: bool = False
    response_code: int | None = None
    error: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


class Action(Protocol):
    """One kind of hook action: makes a single attempt and never raises."""

    def __call__(self, hook: Hook, note: Notification, timeout: float) -> Attempt: ...


def describe(hook: Hook, note: Notification) -> dict[str, Any]:
    """What an attempt would do, recorded for dry runs (secrets left out)."""
    if hook.action in ("webhook", "alertmanager"):
        url = str(hook.option("url"))
        if hook.action == "alertmanager":
            url = url.rstrip("/") + "/api/v2/alerts"
        return {"target": url, "status": note.status}
    if hook.action == "command":
        return {"argv": list(hook.option("argv")), "status": note.status}
    if hook.action == "pipeline_mode":
        return {"target": _mode_url(hook), "mode": _mode_for(hook, note)}
    return {"entry_point": hook.option("entry_point"), "status": note.status}


def _http_failure(exc: Exception) -> Attempt:
    if isinstance(exc, httpx.TimeoutException):
        return Attempt("timeout", retryable=True, error=f"timed out: {type(exc).__name__}")
    return Attempt("failed", retryable=True, error=f"{type(exc).__name__}: {exc}")


def _http_result(resp: httpx.Response) -> Attempt:
    code = resp.status_code
    if 200 <= code < 300:
        return Attempt("ok", response_code=code)
    body = resp.text[:300].strip()
    # 5xx, 408 and 429 are the target's trouble and may pass; other 4xx mean we sent something wrong.
    retry = code >= 500 or code in (408, 429)
    return Attempt("failed", retryable=retry, response_code=code, error=f"HTTP {code}: {body}")


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Attempt:
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
            resp = client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return _http_failure(exc)
    return _http_result(resp)


def _env_secret(hook: Hook, key: str) -> tuple[str | None, Attempt | None]:
    name = hook.option(key)
    if not name:
        return None, None
    value = os.environ.get(str(name))
    if not value:
        return None, Attempt("failed", error=f"environment variable {name} ({key}) is not set")
    return value, None


def sign(secret: str, body: bytes) -> str:
    """The signature header value: ``sha256=`` + hex HMAC-SHA256 of the exact body bytes."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _headers(hook: Hook, note: Notification) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    headers.update({k: str(v) for k, v in (hook.option("headers") or {}).items()})
    if note.idempotency_key:
        headers[IDEMPOTENCY_HEADER] = note.idempotency_key
    return headers


def webhook(hook: Hook, note: Notification, timeout: float) -> Attempt:
    """POST the Alertmanager-compatible webhook payload, optionally HMAC-signed."""
    payload = note.webhook_payload(str(hook.option("receiver") or hook.name))
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    headers = _headers(hook, note)
    secret, problem = _env_secret(hook, "secret_env")
    if problem:
        return problem
    if secret:
        headers[str(hook.option("signature_header") or DEFAULT_SIGNATURE_HEADER)] = sign(
            secret, body
        )
    return _post(str(hook.option("url")), body, headers, timeout)


def alertmanager(hook: Hook, note: Notification, timeout: float) -> Attempt:
    """Send the alert to Alertmanager's v2 API; a past endsAt resolves it there."""
    now = utcnow()
    if note.status == "resolved":
        ends = note.ends_at or now
    else:
        # Alertmanager resolves an alert by itself at endsAt unless it is sent again;
        # evaluators re-send it at half this age while it fires, so a dead evaluator
        # cannot leave a page up forever.
        ends = now + timedelta(seconds=float(hook.option("expire_after") or DEFAULT_EXPIRE_AFTER))
    body = json.dumps([note.api_alert(ends)]).encode()
    headers = _headers(hook, note)
    url = str(hook.option("url")).rstrip("/") + "/api/v2/alerts"
    return _post(url, body, headers, timeout)


def _mode_url(hook: Hook) -> str:
    return str(hook.option("url")).rstrip("/") + str(hook.option("path") or "/admin/mode")


def _mode_for(hook: Hook, note: Notification) -> str:
    if note.status == "resolved":
        return str(hook.option("resolved_mode") or "normal")
    return str(hook.option("mode") or "degraded")


def pipeline_mode(hook: Hook, note: Notification, timeout: float) -> Attempt:
    """Switch a pipeline server's mode through its authenticated admin endpoint."""
    token = hook.option("token")
    if not token:
        token, problem = _env_secret(hook, "token_env")
        if problem:
            return problem
    mode = _mode_for(hook, note)
    body = json.dumps({"mode": mode}).encode()
    headers = {**_headers(hook, note), "Authorization": f"Bearer {token}"}
    result = _post(_mode_url(hook), body, headers, timeout)
    result.detail["mode"] = mode
    return result


def command(hook: Hook, note: Notification, timeout: float) -> Attempt:
    """Run a program (argv, never a shell) with the incident in env vars and JSON on stdin."""
    argv = [str(a) for a in hook.option("argv")]
    env = dict(os.environ)
    env.update(note.env())
    env["VOICEOBS_HOOK"] = hook.name
    env.update({k: str(v) for k, v in (hook.option("env") or {}).items()})
    stdin = json.dumps(note.as_json()).encode()
    try:
        proc = subprocess.run(  # an argv list and no shell, by design
            argv,
            input=stdin,
            capture_output=True,
            env=env,
            cwd=hook.option("cwd"),
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        return Attempt("failed", error=f"command not found: {argv[0]}")
    except PermissionError:
        return Attempt("failed", error=f"command is not executable: {argv[0]}")
    except NotADirectoryError as exc:
        return Attempt("failed", error=f"cannot run {argv[0]}: {exc}")
    except subprocess.TimeoutExpired:
        return Attempt(
            "timeout", retryable=True, error=f"{argv[0]} ran longer than {timeout:g}s; killed"
        )
    except OSError as exc:
        return Attempt("failed", error=f"cannot run {argv[0]}: {exc}")
    detail = {"stdout": proc.stdout.decode(errors="replace")[-500:]}
    if proc.returncode == 0:
        return Attempt("ok", response_code=0, detail=detail)
    tail = proc.stderr.decode(errors="replace").strip()[-300:]
    return Attempt(
        "failed",
        retryable=True,
        response_code=proc.returncode,
        error=f"{argv[0]} exited with {proc.returncode}" + (f": {tail}" if tail else ""),
        detail=detail,
    )


def python(hook: Hook, note: Notification, timeout: float) -> Attempt:
    """Call a ``module:function`` entry point with the incident JSON.

    The call runs in a daemon thread so a function that never returns costs
    one timeout, not the evaluator.
    """
    try:
        func = resolve_entry_point(str(hook.option("entry_point")))
    except (ImportError, AttributeError, TypeError) as exc:
        return Attempt("failed", error=f"cannot load {hook.option('entry_point')}: {exc}")
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = func(note.as_json())
        except BaseException as exc:  # the user's code may raise anything
            box["error"] = exc

    thread = threading.Thread(target=run, name=f"hook-{hook.name}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        return Attempt("timeout", retryable=True, error=f"did not return within {timeout:g}s")
    if "error" in box:
        raised = box["error"]
        return Attempt("failed", retryable=True, error=f"{type(raised).__name__}: {raised}")
    value = box.get("value")
    try:
        shown = json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError):
        shown = repr(value)
    if value is False:
        return Attempt(
            "failed", retryable=True, error="entry point returned False", detail={"returned": shown}
        )
    return Attempt("ok", detail={"returned": shown})


ACTIONS: dict[str, Callable[[Hook, Notification, float], Attempt]] = {
    "webhook": webhook,
    "alertmanager": alertmanager,
    "command": command,
    "pipeline_mode": pipeline_mode,
    "python": python,
}


def attempt(hook: Hook, note: Notification) -> tuple[Attempt, float]:
    """One attempt of the hook's action and how long it took in ms; never raises."""
    start = time.perf_counter()
    try:
        result = ACTIONS[hook.action](hook, note, hook.timeout)
    except Exception as exc:  # a bug in an action must not stop the evaluation
        result = Attempt("failed", error=f"internal error: {type(exc).__name__}: {exc}")
    return result, (time.perf_counter() - start) * 1000.0


__all__ = ["ACTIONS", "IDEMPOTENCY_HEADER", "Action", "Attempt", "attempt", "describe", "sign"]
