"""KubeRay manifests: kinds, apiVersions, GPU resources, entry points that exist, pinned image tags."""

from __future__ import annotations

import importlib
import re
import shlex
from pathlib import Path

import pytest
import yaml

KUBERAY = Path(__file__).resolve().parents[2] / "cluster" / "kuberay"
KNOWN_KINDS = {
    ("ray.io/v1", "RayCluster"), ("ray.io/v1", "RayJob"), ("batch/v1", "CronJob"), ("v1", "ConfigMap"),
    ("v1", "ServiceAccount"), ("rbac.authorization.k8s.io/v1", "Role"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
}


def documents() -> list[tuple[str, dict]]:
    """Every manifest, plus the RayJob embedded in the nightly ConfigMap."""
    out = []
    for path in sorted(KUBERAY.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is None:
                continue
            out.append((path.name, doc))
            if doc["kind"] == "ConfigMap":
                for key, text in doc.get("data", {}).items():
                    if key.endswith(".yaml"):
                        for inner in yaml.safe_load_all(text):
                            out.append((f"{path.name}:{key}", inner))
    return out


def by_kind(kind: str) -> list[tuple[str, dict]]:
    return [(n, d) for n, d in documents() if d["kind"] == kind]


def cluster_specs() -> list[tuple[str, dict]]:
    specs = [(n, d["spec"]) for n, d in by_kind("RayCluster")]
    specs += [(n, d["spec"]["rayClusterSpec"]) for n, d in by_kind("RayJob")]
    return specs


def containers(pod_template: dict) -> list[dict]:
    return pod_template["spec"]["containers"]


def test_every_document_has_a_known_kind_and_api_version():
    docs = documents()
    assert {d["kind"] for _, d in docs} >= {"RayCluster", "RayJob", "CronJob", "ServiceAccount", "Role", "RoleBinding"}
    for name, d in docs:
        assert (d["apiVersion"], d["kind"]) in KNOWN_KINDS, (name, d["apiVersion"], d["kind"])
        assert d["metadata"].get("name") or d["metadata"].get("generateName"), name


def test_ray_version_and_images_match_the_pin(ray_version):
    for name, spec in cluster_specs():
        assert spec["rayVersion"] == ray_version, name
        pods = [spec["headGroupSpec"]["template"]] + [g["template"] for g in spec["workerGroupSpecs"]]
        for pod in pods:
            for c in containers(pod):
                image = c["image"]
                tag = image.rsplit(":", 1)[1]
                if image.startswith("rayproject/ray:"):
                    assert tag.startswith(ray_version), (name, image)
                else:
                    assert f"ray{ray_version}" in tag, (name, image)


def test_dockerfile_base_matches_the_pin(repo, ray_version):
    text = (repo / "cluster" / "docker" / "Dockerfile").read_text()
    assert re.search(rf"^FROM rayproject/ray:{re.escape(ray_version)}-py311-gpu$", text, re.M)
    assert '".[gpu]"' in text


def test_gpu_worker_groups_request_gpus_and_head_does_not():
    for name, spec in cluster_specs():
        head = spec["headGroupSpec"]
        assert str(head["rayStartParams"].get("num-gpus", "0")) == "0", name
        for c in containers(head["template"]):
            assert "nvidia.com/gpu" not in c.get("resources", {}).get("limits", {}), name
        gpu_groups = [g for g in spec["workerGroupSpecs"]
                      if any("nvidia.com/gpu" in c.get("resources", {}).get("limits", {})
                             for c in containers(g["template"]))]
        assert gpu_groups, f"{name}: no GPU worker group"
        for g in gpu_groups:
            for c in containers(g["template"]):
                limits = c["resources"]["limits"]
                assert int(limits["nvidia.com/gpu"]) >= 1
                assert c["resources"]["requests"].get("nvidia.com/gpu") == limits["nvidia.com/gpu"]
            assert g["minReplicas"] == 0 and g["maxReplicas"] >= 1, name
        assert spec.get("enableInTreeAutoscaling") is True, name


ENTRY = re.compile(r"python -m (jobs\.[a-z_]+)")


@pytest.mark.parametrize("name,doc", by_kind("RayJob"), ids=lambda x: x if isinstance(x, str) else "")
def test_rayjob_entrypoints_exist_and_parse(name, doc):
    spec = doc["spec"]
    assert spec["submissionMode"] == "K8sJobMode"
    assert spec["shutdownAfterJobFinishes"] is True
    entry = spec["entrypoint"]
    mods = ENTRY.findall(entry)
    assert len(mods) == 1, entry
    module = importlib.import_module(mods[0])
    assert callable(module.main)
    argv = shlex.split(entry)[3:]
    module.build_parser().parse_args(argv)  # the flags in the manifest are flags the job accepts
    env = yaml.safe_load(spec["runtimeEnvYAML"])
    assert env["env_vars"]["HF_HUB_OFFLINE"] == "1" and "pip" not in env


def test_one_run_rayjob_and_a_nightly_schedule():
    entries = {ENTRY.search(d["spec"]["entrypoint"]).group(1) for _, d in by_kind("RayJob")}
    assert {"jobs.run", "jobs.nightly"} <= entries
    (_, cron), = by_kind("CronJob")
    assert len(cron["spec"]["schedule"].split()) == 5
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    script = " ".join(pod["containers"][0].get("command", []) + pod["containers"][0].get("args", []))
    assert "kubectl create -f /manifests/rayjob.yaml" in script
    (_, cm), = by_kind("ConfigMap")
    assert any(v.get("configMap", {}).get("name") == cm["metadata"]["name"] for v in pod["volumes"])
    nightly = yaml.safe_load(cm["data"]["rayjob.yaml"])
    assert nightly["metadata"]["generateName"]  # one new RayJob per night with `kubectl create`


def test_cronjob_service_account_may_create_rayjobs():
    (_, cron), = by_kind("CronJob")
    sa = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["serviceAccountName"]
    assert sa in {d["metadata"]["name"] for _, d in by_kind("ServiceAccount")}
    bindings = [d for _, d in by_kind("RoleBinding")
                if any(s["kind"] == "ServiceAccount" and s["name"] == sa for s in d["subjects"])]
    assert bindings
    roles = {d["metadata"]["name"]: d for _, d in by_kind("Role")}
    rules = [r for b in bindings for r in roles[b["roleRef"]["name"]]["rules"]]
    assert any("ray.io" in r["apiGroups"] and "rayjobs" in r["resources"] and {"create", "list"} <= set(r["verbs"])
               for r in rules)


def test_pods_use_a_service_account_that_is_defined():
    defined = {d["metadata"]["name"] for _, d in by_kind("ServiceAccount")}
    for name, spec in cluster_specs():
        pods = [spec["headGroupSpec"]["template"]] + [g["template"] for g in spec["workerGroupSpecs"]]
        for pod in pods:
            assert pod["spec"].get("serviceAccountName") in defined, name
