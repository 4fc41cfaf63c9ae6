"""A narrow client for the few Label Studio REST endpoints al_ray uses (Community 1.23).

Why plain HTTP and not ``label-studio-sdk``: the SDK (2.1.2) is a generated client for the whole
API with its own dependency tree (httpx, pydantic models of every endpoint, lxml, nltk, ...), and
installing it beside vLLM, Ray and torch risks pin conflicts in the project's environment for the
sake of ten endpoints. ``requests`` is already there (Ray depends on it), and owning the calls
keeps the three things that matter here explicit: how the token is used (and never shown), which
failures are retried, and that a failed pull leaves nothing behind.

Tokens: Label Studio 1.23 gives users *personal access tokens* by default: a JWT refresh token,
exchanged at ``POST /api/token/refresh/`` for an access token that lives ~5 minutes and is sent as
``Authorization: Bearer``. Legacy tokens (``Authorization: Token``) are refused unless the
organisation re-enabled them. The client tells the two apart by shape (a JWT has three dot-separated
parts), refreshes the access token before it expires and once more on a 401, and registers both
with :mod:`al_ray.security` so that no message can print them.

Retries: connection failures, timeouts and 429/5xx answers are retried with exponential back-off
(``attempts`` tries in all); other 4xx are answered at once with the server's ``detail``. Requests
that create things (project, task import) are not retried blindly by this class: the caller
re-reads the server's state first (see :mod:`al_ray.labeling.tools.labelstudio`), so a lost answer
never creates a duplicate.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any, Iterable, Mapping

from al_ray.errors import AlRayError, ConfigError
from al_ray.security import register_secret, scrub

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_REFRESH_MARGIN_S = 30.0


class LabelStudioError(AlRayError):
    """Label Studio answered with an error (or an answer al_ray cannot use); names the request."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(scrub(message))


class LabelStudioAuthError(LabelStudioError, ConfigError):
    """The token was refused (401/403). The message names the variable it came from, never the token.
    A configuration error (exit 2): retrying with the same token cannot help."""


class LabelStudioUnavailable(LabelStudioError):
    """The server could not be reached, or kept answering 429/5xx, for every attempt. Like storage that
    fails after retries, an internal error (exit 4): the same command may succeed later."""


def _jwt_payload(token: str) -> dict[str, Any] | None:
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        raw = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return payload if isinstance(payload, dict) else None


def _detail(resp) -> str:
    """Label Studio's own explanation from an error answer (``detail`` / ``validation_errors``)."""
    try:
        body = resp.json()
    except ValueError:
        text = (resp.text or "").strip()
        return text[:200] if text and not text.lstrip().startswith("<") else resp.reason or ""
    if isinstance(body, Mapping):
        parts = [str(body.get("detail") or "")]
        if body.get("validation_errors"):
            parts.append(json.dumps(body["validation_errors"], ensure_ascii=False)[:400])
        return " ".join(p for p in parts if p) or json.dumps(body)[:300]
    return json.dumps(body)[:300]


class LabelStudioClient:
    """Talks to one Label Studio server with one token. Use as a context manager (or call close()).

    ``token_source`` is how the token is named in messages (the environment variable it came from).
    """

    def __init__(self, url: str, token: str, *, token_source: str = "the token", timeout: float = 30.0,
                 attempts: int = 4, backoff: float = 0.5) -> None:
        import requests  # lazy: only commands that talk to Label Studio need it

        if not token or not token.strip():
            raise LabelStudioAuthError(f"no Label Studio token: set {token_source}")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.token_source = token_source
        self._token = token.strip()
        register_secret(self._token)
        payload = _jwt_payload(self._token)
        self._kind = "legacy" if payload is None else (
            "access" if payload.get("token_type") == "access" else "refresh")
        self._access: str | None = self._token if self._kind == "access" else None
        self._access_exp = float(payload.get("exp", 0)) if self._kind == "access" and payload else 0.0
        self._session = requests.Session()
        self._requests = requests

    # -- lifecycle -----------------------------------------------------------------------------
    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> "LabelStudioClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- auth ----------------------------------------------------------------------------------
    def _refresh_access(self) -> None:
        """Exchange the personal access token for a short-lived access token."""
        resp = self._send("POST", "/api/token/refresh/", json_body={"refresh": self._token}, auth=False)
        if resp.status_code in (401, 403):
            raise LabelStudioAuthError(
                f"Label Studio at {self.url} refused the personal access token from {self.token_source} "
                f"({resp.status_code}: {_detail(resp)}); create a new one under Account & Settings -> "
                "Personal Access Token and set the variable again", status=resp.status_code)
        if resp.status_code != 200:
            raise LabelStudioError(f"Label Studio at {self.url}: POST /api/token/refresh/ answered "
                                   f"{resp.status_code}: {_detail(resp)}", status=resp.status_code)
        access = resp.json().get("access")
        if not isinstance(access, str):
            raise LabelStudioError(f"Label Studio at {self.url}: /api/token/refresh/ returned no access token")
        register_secret(access)
        self._access = access
        self._access_exp = float((_jwt_payload(access) or {}).get("exp", time.time() + 60))

    def _auth_header(self, force_refresh: bool = False) -> dict[str, str]:
        if self._kind == "legacy":
            return {"Authorization": f"Token {self._token}"}
        if self._kind == "refresh" and (force_refresh or self._access is None
                                        or self._access_exp - time.time() < _REFRESH_MARGIN_S):
            self._refresh_access()
        return {"Authorization": f"Bearer {self._access}"}

    # -- transport -----------------------------------------------------------------------------
    def _send(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
              json_body: Any = None, auth: bool = True, retry: bool = True, force_refresh: bool = False):
        """One request, retried on connection failures and 429/5xx; returns the last response."""
        req = self._requests
        attempts = self.attempts if retry else 1
        last_error = ""
        for attempt in range(attempts):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            headers = {"Accept": "application/json"}
            if auth:
                headers.update(self._auth_header(force_refresh and attempt == 0))
            try:
                resp = self._session.request(method, self.url + path, params=params, json=json_body,
                                             headers=headers, timeout=self.timeout)
            except (req.ConnectionError, req.Timeout, req.exceptions.ChunkedEncodingError) as exc:
                last_error = f"{type(exc).__name__}: {exc}"
                continue
            if resp.status_code in RETRY_STATUSES and attempt + 1 < attempts:
                last_error = f"{resp.status_code} {_detail(resp)}"
                continue
            return resp
        raise LabelStudioUnavailable(
            f"Label Studio at {self.url} did not answer {method} {path} after {attempts} attempt(s) "
            f"(last: {last_error[:300]}); is the server running? Nothing was imported.")

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                json_body: Any = None, retry: bool = True, allow_404: bool = False) -> Any:
        """JSON answer of ``method path``; raises a named error for anything but 2xx (404 -> None if allowed)."""
        resp = self._send(method, path, params=params, json_body=json_body, retry=retry)
        if resp.status_code == 401 and self._kind == "refresh":  # access token expired meanwhile
            resp = self._send(method, path, params=params, json_body=json_body, retry=retry, force_refresh=True)
        if resp.status_code in (401, 403):
            raise LabelStudioAuthError(
                f"Label Studio at {self.url} refused the token from {self.token_source} for {method} {path} "
                f"({resp.status_code}: {_detail(resp)})", status=resp.status_code)
        if resp.status_code == 404 and allow_404:
            return None
        if not 200 <= resp.status_code < 300:
            raise LabelStudioError(f"Label Studio at {self.url}: {method} {path} answered {resp.status_code}: "
                                   f"{_detail(resp)}", status=resp.status_code)
        if resp.status_code == 204 or not resp.content:
            return None
        try:
            return resp.json()
        except ValueError as exc:
            raise LabelStudioError(f"Label Studio at {self.url}: {method} {path} did not answer JSON "
                                   f"(is {self.url} a Label Studio server?)") from exc

    # -- endpoints -----------------------------------------------------------------------------
    def users(self) -> list[dict[str, Any]]:
        """Every user of the token's organisation (id, email, username, names)."""
        out = self.request("GET", "/api/users/")
        return out if isinstance(out, list) else list(out.get("results", []))

    def project(self, project_id: int) -> dict[str, Any] | None:
        return self.request("GET", f"/api/projects/{int(project_id)}", allow_404=True)

    def projects_titled(self, title: str) -> list[dict[str, Any]]:
        out = self.request("GET", "/api/projects/", params={"title": title, "page_size": 100})
        return list(out.get("results", [])) if isinstance(out, Mapping) else list(out or [])

    def create_project(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        return self.request("POST", "/api/projects/", json_body=dict(fields), retry=False)

    def update_project(self, project_id: int, fields: Mapping[str, Any]) -> dict[str, Any]:
        return self.request("PATCH", f"/api/projects/{int(project_id)}", json_body=dict(fields))

    def tasks(self, project_id: int, page_size: int = 500) -> list[dict[str, Any]]:
        """All tasks of a project (data, overlap, is_labeled; no annotations), page by page."""
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            body = self.request("GET", "/api/tasks/", params={"project": int(project_id), "page": page,
                                                              "page_size": page_size})
            batch = body.get("tasks", []) if isinstance(body, Mapping) else []
            out.extend(batch)
            total = int(body.get("total", len(out))) if isinstance(body, Mapping) else len(out)
            if not batch or len(out) >= total:
                return out
            page += 1

    def import_tasks(self, project_id: int, tasks: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
        return self.request("POST", f"/api/projects/{int(project_id)}/import", json_body=list(tasks), retry=False)

    def update_task(self, task_id: int, fields: Mapping[str, Any]) -> dict[str, Any]:
        return self.request("PATCH", f"/api/tasks/{int(task_id)}", json_body=dict(fields))

    def export(self, project_id: int) -> list[dict[str, Any]]:
        """Every task with its annotations, in Label Studio's JSON export format."""
        out = self.request("GET", f"/api/projects/{int(project_id)}/export",
                           params={"exportType": "JSON", "download_all_tasks": "true"})
        if not isinstance(out, list):
            raise LabelStudioError(f"Label Studio at {self.url}: the export of project {project_id} is not a "
                                   "list of tasks")
        return out
