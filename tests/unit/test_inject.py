"""inject/uninject behaviour beyond the golden files: idempotency, round trips, identity, errors, CLI."""

from __future__ import annotations

import argparse
import copy
import io
from typing import Any

import pytest

from sidecar import __version__
from sidecar.errors import ManifestError, SidecarError
from sidecar.k8s import cli
from sidecar.k8s.container import CONTAINER_NAME, DEFAULT_IMAGE, INJECTED
from sidecar.k8s.inject import ORIGINAL_TARGET_PORTS, InjectOptions, inject, uninject
from sidecar.k8s.manifests import load_documents


def _deployment(**template_annotations: str) -> dict[str, Any]:
    template: dict[str, Any] = {
        "metadata": {"labels": {"app": "m"}},
        "spec": {"containers": [{"name": "model", "image": "m:1", "ports": [{"name": "http", "containerPort": 8080}]}]},
    }
    if template_annotations:
        template["metadata"]["annotations"] = {
            f"model-sidecar.io/{k.replace('_', '-')}": v for k, v in template_annotations.items()
        }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "m"},
        "spec": {"selector": {"matchLabels": {"app": "m"}}, "template": template},
    }


def _service(target: Any = "http") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "m"},
        "spec": {"selector": {"app": "m"}, "ports": [{"port": 80, "targetPort": target}]},
    }


def _sidecar(doc: dict[str, Any], where: str = "initContainers") -> dict[str, Any]:
    spec = doc["spec"]["template"]["spec"] if doc["kind"] != "Pod" else doc["spec"]
    return next(c for c in spec.get(where, []) if c["name"] == CONTAINER_NAME)


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_native_sidecar_shape() -> None:
    docs = [_deployment(), _service()]
    out = inject(docs).docs
    sidecar = _sidecar(out[0])
    assert sidecar["restartPolicy"] == "Always"
    assert sidecar["image"] == DEFAULT_IMAGE.replace(
        DEFAULT_IMAGE, f"ghcr.io/model-sidecar/model-sidecar:{__version__}"
    )
    assert sidecar["startupProbe"]["httpGet"]["path"] == "/healthz"  # not /readyz: that would deadlock
    assert sidecar["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert _env(sidecar)["SIDECAR_UPSTREAM"] == "http://127.0.0.1:8080"
    assert sidecar["securityContext"]["runAsUser"] == 10001 and sidecar["securityContext"]["readOnlyRootFilesystem"]
    assert out[0]["spec"]["template"]["metadata"]["annotations"][INJECTED] == __version__
    assert out[0]["spec"]["template"]["spec"]["containers"] == docs[0]["spec"]["template"]["spec"]["containers"]
    assert out[1]["spec"]["ports"][0]["targetPort"] == 15080


def test_input_is_not_mutated() -> None:
    docs = [_deployment(), _service()]
    before = copy.deepcopy(docs)
    inject(docs)
    uninject(inject(docs).docs)
    assert docs == before


def test_idempotent_and_round_trip_classic() -> None:
    docs = [_deployment(), _service(8080)]
    once = inject(docs, InjectOptions(classic=True))
    assert _sidecar(once.docs[0], "containers") is once.docs[0]["spec"]["template"]["spec"]["containers"][0]
    assert "restartPolicy" not in _sidecar(once.docs[0], "containers")
    twice = inject(once.docs, InjectOptions(classic=True))
    assert twice.docs == once.docs and twice.changed == ()
    assert not any("kubectl patch" in note for note in twice.notes)  # the Service was routed before
    assert uninject(once.docs).docs == docs


def test_reinject_upgrades_an_older_injection() -> None:
    old = inject([_deployment()], InjectOptions(image="ghcr.io/model-sidecar/model-sidecar:0.0.1")).docs
    new = inject(old).docs
    assert _sidecar(new[0])["image"] == DEFAULT_IMAGE
    assert len(new[0]["spec"]["template"]["spec"]["initContainers"]) == 1
    assert new == inject([_deployment()]).docs


def test_service_without_target_port_and_uninject_restores_absence() -> None:
    service = _service()
    del service["spec"]["ports"][0]["targetPort"]
    service["spec"]["ports"][0]["port"] = 8080
    out = inject([_deployment(), service]).docs
    assert out[1]["spec"]["ports"][0]["targetPort"] == 15080
    assert out[1]["metadata"]["annotations"][ORIGINAL_TARGET_PORTS] == '{"0": null}'
    assert uninject(out).docs[1] == service


def test_missing_service_prints_the_patch() -> None:
    result = inject([_deployment()])
    assert len(result.notes) == 1
    assert "kubectl patch service" in result.notes[0] and '"value": 15080' in result.notes[0]


def test_damaged_service_annotation_is_an_error() -> None:
    out = inject([_deployment(), _service()]).docs
    out[1]["metadata"]["annotations"][ORIGINAL_TARGET_PORTS] = "{not json"
    with pytest.raises(ManifestError, match="damaged"):
        uninject(out)


def test_pod_from_a_deployment_is_named_after_the_deployment() -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": "iris-7d9f8b6c4-",
            "labels": {"app": "iris", "pod-template-hash": "7d9f8b6c4"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": "iris-7d9f8b6c4",
                    "controller": True,
                    "uid": "u",
                }
            ],
        },
        "spec": {"containers": [{"name": "model", "image": "m", "ports": [{"containerPort": 9000}]}]},
    }
    env = _env(next(c for c in inject([pod]).docs[0]["spec"]["initContainers"]))
    assert env["OTEL_SERVICE_NAME"] == "iris"
    attributes = dict(item.split("=", 1) for item in env["OTEL_RESOURCE_ATTRIBUTES"].split(","))
    assert attributes["k8s.deployment.name"] == "iris"
    assert attributes["k8s.replicaset.name"] == "iris-7d9f8b6c4"
    assert attributes["k8s.pod.name"] == "$(OTEL_RESOURCE_ATTRIBUTES_POD_NAME)"
    assert attributes["k8s.container.name"] == CONTAINER_NAME


def test_otel_resource_attributes_come_last_and_reference_earlier_variables() -> None:
    names = [e["name"] for e in _sidecar(inject([_deployment()]).docs[0])["env"]]
    assert names[-1] == "OTEL_RESOURCE_ATTRIBUTES"
    for needed in (
        "OTEL_RESOURCE_ATTRIBUTES_POD_NAME",
        "OTEL_RESOURCE_ATTRIBUTES_NODE_NAME",
        "OTEL_RESOURCE_ATTRIBUTES_POD_NAMESPACE",
    ):
        assert names.index(needed) < names.index("OTEL_RESOURCE_ATTRIBUTES")


def test_named_model_port_annotation() -> None:
    doc = _deployment(model_port="http")
    assert _env(_sidecar(inject([doc]).docs[0]))["SIDECAR_UPSTREAM"] == "http://127.0.0.1:8080"


@pytest.mark.parametrize(
    ("annotations", "message"),
    [
        ({"sample_rate": "2"}, "SIDECAR_SAMPLE_RATE"),
        ({"store": "mysql://x"}, "SIDECAR_STORE"),
        ({"excluded_paths": "health"}, "SIDECAR_EXCLUDED_PATHS"),
        ({"cpu_limit": "lots"}, "cpu-limit"),
        ({"redaction_profile": "paranoid"}, "redaction-profile"),
        ({"container": "nope"}, "container"),
        ({"model_port": "grpc"}, "model-port"),
        ({"admin_token_secret": "a/b/c"}, "SECRET/KEY"),
        ({"inject": "yes"}, "inject"),
        ({"otlp_protocol": "udp"}, "otlp-protocol"),
    ],
)
def test_bad_annotations_are_errors_naming_the_workload(annotations: dict[str, str], message: str) -> None:
    with pytest.raises(ManifestError, match=message) as info:
        inject([_deployment(**annotations)])
    assert "Deployment/m" in str(info.value)


def test_workload_errors() -> None:
    no_port = _deployment()
    del no_port["spec"]["template"]["spec"]["containers"][0]["ports"]
    with pytest.raises(ManifestError, match="no TCP port"):
        inject([no_port])
    clash = _deployment()
    clash["spec"]["template"]["spec"]["containers"][0]["ports"].append({"containerPort": 15090})
    with pytest.raises(ManifestError, match="15090"):
        inject([clash])
    host = _deployment()
    host["spec"]["template"]["spec"]["hostNetwork"] = True
    with pytest.raises(ManifestError, match="hostNetwork"):
        inject([host])
    with pytest.raises(ManifestError, match="no pod template"):
        inject([{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}, "spec": {}}])


def test_unsupported_and_malformed_documents() -> None:
    rc = {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": {"name": "r"},
        "spec": {"template": {"spec": {}}},
    }
    with pytest.raises(ManifestError, match="not supported"):
        inject([rc])
    with pytest.raises(ManifestError, match="kind/apiVersion"):
        inject([{"metadata": {"name": "x"}}])
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "j"},
        "spec": {"template": {"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 1}]}]}}},
    }
    with pytest.raises(ManifestError, match="classic"):
        inject([job], InjectOptions(classic=True, include_jobs=True))
    assert inject([job]).docs == [job]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: [\n", "invalid YAML at line 2"),
        ("- 1\n- 2\n", "not a Kubernetes object"),
        ("key: value\n", "kind/apiVersion"),
    ],
)
def test_bad_yaml(text: str, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        inject(load_documents(text))


def test_classic_wait_script_is_valid_python() -> None:
    sidecar = _sidecar(inject([_deployment()], InjectOptions(classic=True)).docs[0], "containers")
    command = sidecar["lifecycle"]["postStart"]["exec"]["command"]
    assert command[:2] == ["python", "-c"]
    compile(command[2], "<postStart>", "exec")


def _run_cli(
    argv: list[str], stdin: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    # the same contract as sidecar.cli.main: a SidecarError becomes one line on stderr and exit 1
    parser = argparse.ArgumentParser()
    cli.configure_inject(parser)
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    try:
        rc = cli.run_inject(parser.parse_args(argv))
    except SidecarError as exc:
        print(f"sidecar inject: {exc}", file=__import__("sys").stderr)
        rc = 1
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_round_trip_through_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    source = yaml.safe_dump_all([_deployment(), _service()])
    rc, injected, err = _run_cli(["-f", "-"], source, monkeypatch, capsys)
    assert rc == 0 and err == "" and "restartPolicy: Always" in injected
    rc, again, _ = _run_cli(["-f", "-"], injected, monkeypatch, capsys)
    assert again == injected
    rc, restored, _ = _run_cli(["-f", "-", "--uninject"], injected, monkeypatch, capsys)
    assert list(yaml.safe_load_all(restored)) == [_deployment(), _service()]


def test_cli_error_writes_nothing_to_stdout(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out, err = _run_cli(["-f", "-"], "kind: [\n", monkeypatch, capsys)
    assert rc == 1 and out == ""
    assert err.count("\n") == 1 and "invalid YAML" in err
    rc, out, err = _run_cli(["-f", "/nonexistent/x.yaml"], "", monkeypatch, capsys)
    assert rc == 1 and out == "" and "cannot read" in err


def test_unknown_annotation_is_reported() -> None:
    notes = inject([_deployment(sample_rat="0.5"), _service()]).notes
    assert notes == ("Deployment/m: unknown annotation(s) ignored: model-sidecar.io/sample-rat",)


def test_through_the_sidecar_command(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    from sidecar import cli as main_cli

    good = tmp_path / "m.yaml"
    good.write_text(yaml.safe_dump_all([_deployment(), _service()]), encoding="utf-8")
    assert main_cli.main(["inject", "-f", str(good)]) == 0
    out, _ = capsys.readouterr()
    assert "model-sidecar" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: v1\nkind: ReplicationController\nmetadata: {name: r}\nspec: {template: {spec: {}}}\n",
        encoding="utf-8",
    )
    assert main_cli.main(["inject", "-f", str(bad)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("sidecar inject: ") and err.count("\n") == 1
