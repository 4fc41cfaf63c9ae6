"""``labeling.labelstudio``: where the Label Studio server is and how al_ray finds its token.

Kept apart from :mod:`al_ray.labeling.config` so that the connection settings (and their
documentation) live beside the adapter that uses them; ``LabelingConfig`` only holds an instance.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_ENV_VAR = "LABEL_STUDIO_API_KEY"


class LabelStudioSettings(BaseModel):
    """How to reach a Label Studio server (Community 1.23 was tested)."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(
        None, description="Base URL of the server, e.g. http://127.0.0.1:8080 (`--url` overrides it; "
        "the LABEL_STUDIO_URL environment variable is used when both are absent).",
    )
    env_var: str = Field(
        DEFAULT_ENV_VAR,
        description="Environment variable that holds the access token: a personal access token "
        "(Account & Settings -> Personal Access Token; the default kind in 1.23) or a legacy API "
        "token. The token itself never goes in a config file and is never printed.",
    )
    project_title: str | None = Field(
        None, description="Title prefix of the Label Studio projects (one project per batch, "
        "'<prefix> round <r>'); default: 'al-ray <task name>'.",
    )
    timeout_s: float = Field(30.0, gt=0, description="Seconds to wait for each HTTP answer.")
    attempts: int = Field(
        4, ge=1, description="Tries per request when the server is unreachable or answers 429/5xx, with "
        "exponential back-off (0.5 s, 1 s, 2 s, ...); after the last one the command stops with an error "
        "and imports nothing.",
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is None:
            return None
        url = url.strip().rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"Label Studio url must start with http:// or https://, got {url!r}")
        return url
