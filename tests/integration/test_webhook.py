"""The admission webhook over real TLS on 127.0.0.1: AdmissionReview round trips, opt-outs, skips,
malformed reviews, metrics, and certificate rotation without a restart."""

from __future__ import annotations

import asyncio
import base64
import datetime
import ipaddress
import json
import os
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import jsonpatch  # test dependency: an independent RFC 6902 implementation
import kubernetes_validate
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sidecar.errors import ConfigError
from sidecar.k8s.inject import InjectOptions, inject
from sidecar.k8s.webhook import WebhookServer, WebhookSettings

pytestmark = pytest.mark.timeout(60)
_ROOT = str(Path(__file__).resolve().parents[2])


def _write_cert(
    directory: Path, common_name: str, *, cert_name: str = "tls.crt", key_name: str = "tls.key"
) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / cert_name, directory / key_name
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def _client_context(*cert_files: Path) -> ssl.SSLContext:
    context = ssl.create_default_context()
    for path in cert_files:
        context.load_verify_locations(cafile=str(path))
    return context


async def _peer_common_name(port: int, context: ssl.SSLContext) -> str:
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        return str(x509.load_der_x509_certificate(der).subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)
    finally:
        writer.close()
        await writer.wait_closed()


class _Client:
    def __init__(self, server: WebhookServer, session: aiohttp.ClientSession, context: ssl.SSLContext) -> None:
        self.server, self.session, self.context = server, session, context
        self.base = f"https://127.0.0.1:{server.port}"

    async def post(self, body: bytes | dict[str, Any]) -> tuple[int, Any]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        async with self.session.post(
            self.base + "/mutate", data=data, headers={"Content-Type": "application/json"}, ssl=self.context
        ) as resp:
            return resp.status, await resp.json()

    async def review(self, pod: dict[str, Any], **request: Any) -> dict[str, Any]:
        status, body = await self.post(_review(pod, **request))
        assert status == 200, body
        assert body["apiVersion"] == "admission.k8s.io/v1" and body["kind"] == "AdmissionReview"
        response: dict[str, Any] = body["response"]
        assert response["uid"] == request.get("uid", "uid-1") and response["allowed"] is True
        return response

    async def metrics(self, base: str | None = None) -> str:
        async with self.session.get(
            (base or self.base) + "/metrics", ssl=self.context if base is None else False
        ) as resp:
            assert resp.status == 200
            return await resp.text()


@pytest.fixture
async def webhook(tmp_path: Path) -> AsyncIterator[_Client]:
    cert, key = _write_cert(tmp_path, "first")
    settings = WebhookSettings(
        tls_cert=str(cert),
        tls_key=str(key),
        listen="127.0.0.1:0",
        metrics_listen="127.0.0.1:0",
        image="ghcr.io/model-sidecar/model-sidecar:test",
        skip_namespaces=("kube-system", "model-sidecar-system"),
        cert_check_interval=0.05,
    )
    server = WebhookServer(settings)
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            yield _Client(server, session, _client_context(cert))
    finally:
        await server.stop()


def _pod(**annotations: str) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": "iris-5f7c9d8b6-",
            "namespace": "models",
            "labels": {"app": "iris", "pod-template-hash": "5f7c9d8b6"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": "iris-5f7c9d8b6",
                    "uid": "0b1c",
                    "controller": True,
                }
            ],
        },
        "spec": {
            "containers": [
                {
                    "name": "model",
                    "image": "example.com/iris:1",
                    "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                }
            ]
        },
    }
    if annotations:
        pod["metadata"]["annotations"] = dict(annotations)
    return pod


def _review(
    pod: Any, *, uid: str = "uid-1", namespace: str = "models", operation: str = "CREATE", kind: str = "Pod"
) -> dict[str, Any]:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": kind},
            "resource": {"group": "", "version": "v1", "resource": "pods" if kind == "Pod" else kind.lower() + "s"},
            "namespace": namespace,
            "operation": operation,
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
            "object": pod,
            "oldObject": None,
            "dryRun": False,
        },
    }


def _patched(pod: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    assert response["patchType"] == "JSONPatch"
    ops = json.loads(base64.b64decode(response["patch"]))
    result: dict[str, Any] = jsonpatch.apply_patch(pod, ops)
    return result


def _busy_pod() -> dict[str, Any]:
    pod = _pod(**{"model-sidecar.io/sample-rate": "0.5", "a~b/c": "escaped"})
    pod["spec"]["initContainers"] = [{"name": "fetch", "image": "busybox:1.36", "command": ["true"]}]
    pod["spec"]["volumes"] = [{"name": "weights", "emptyDir": {}}]
    return pod


@pytest.mark.parametrize("make", [_pod, _busy_pod], ids=["bare", "with-init-volumes-annotations"])
async def test_pod_create_is_patched_to_exactly_what_inject_produces(webhook: _Client, make: Any) -> None:
    pod = make()
    response = await webhook.review(pod)
    patched = _patched(pod, response)
    expected = inject([pod], InjectOptions(image="ghcr.io/model-sidecar/model-sidecar:test")).docs[0]
    assert patched == expected
    sidecar = patched["spec"]["initContainers"][0]
    assert sidecar["name"] == "model-sidecar" and sidecar["restartPolicy"] == "Always"
    env = {e["name"]: e.get("value") for e in sidecar["env"]}
    assert env["OTEL_SERVICE_NAME"] == "iris"
    assert "k8s.deployment.name=iris" in env["OTEL_RESOURCE_ATTRIBUTES"]
    ops = json.loads(base64.b64decode(response["patch"]))
    assert {op["op"] for op in ops} == {"add"}  # nothing of the original pod is replaced
    for version in ("1.29.0", kubernetes_validate.utils.latest_version()):
        kubernetes_validate.validate(patched, version, strict=True)


@pytest.mark.parametrize("image", ["ghcr.io/model-sidecar/model-sidecar:test", "registry.local/pinned:1"])
async def test_an_injected_pod_is_not_patched_again(webhook: _Client, image: str) -> None:
    pod = inject([_pod()], InjectOptions(image=image)).docs[0]  # e.g. a template `sidecar inject` wrote
    response = await webhook.review(pod)
    assert "patch" not in response
    assert 'sidecar_webhook_reviews_total{outcome="unchanged"} 1.0' in await webhook.metrics()


@pytest.mark.parametrize("where", ["annotations", "labels"])
async def test_opted_out_pods_are_allowed_unchanged(webhook: _Client, where: str) -> None:
    pod = _pod()
    pod["metadata"].setdefault(where, {})["model-sidecar.io/inject"] = "false"
    response = await webhook.review(pod)
    assert "patch" not in response and "warnings" not in response


async def test_opt_in_annotation_is_injected(webhook: _Client) -> None:
    response = await webhook.review(_pod(**{"model-sidecar.io/inject": "true"}))
    assert response["patchType"] == "JSONPatch"


async def test_skipped_namespaces_and_the_webhook_itself(webhook: _Client) -> None:
    assert "patch" not in await webhook.review(_pod(), namespace="kube-system")
    assert "patch" not in await webhook.review(_pod(), namespace="model-sidecar-system")
    own = _pod()
    own["metadata"]["labels"]["app.kubernetes.io/name"] = "model-sidecar-webhook"
    assert "patch" not in await webhook.review(own)


async def test_other_operations_and_kinds_are_ignored(webhook: _Client) -> None:
    assert "patch" not in await webhook.review(_pod(), operation="UPDATE")
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}, "spec": {}}
    assert "patch" not in await webhook.review(deployment, kind="Deployment")


async def test_a_pod_that_cannot_be_injected_is_allowed_with_a_warning(webhook: _Client) -> None:
    pod = _pod()
    del pod["spec"]["containers"][0]["ports"]
    response = await webhook.review(pod)
    assert "patch" not in response
    assert "declares no TCP port" in response["warnings"][0]


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        json.dumps(
            {"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview", "request": {"uid": "u"}}
        ).encode(),
        json.dumps(
            {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"object": {}}}
        ).encode(),
        json.dumps(_review("not a pod")).encode(),
        b"\xff\xfe",
    ],
)
async def test_malformed_reviews_get_400_json(webhook: _Client, body: bytes) -> None:
    status, answer = await webhook.post(body)
    assert status == 400
    assert answer["error"] == "malformed review" and answer["detail"]


async def test_metrics_count_reviews_by_outcome_on_both_listeners(webhook: _Client) -> None:
    await webhook.review(_pod())
    await webhook.review(_pod(**{"model-sidecar.io/inject": "false"}))
    await webhook.review(_pod(), namespace="kube-system")
    await webhook.post(b"nope")
    text = await webhook.metrics()
    assert 'sidecar_webhook_reviews_total{outcome="injected"} 1.0' in text
    assert 'sidecar_webhook_reviews_total{outcome="opted_out"} 1.0' in text
    assert 'sidecar_webhook_reviews_total{outcome="skipped"} 1.0' in text
    assert 'sidecar_webhook_reviews_total{outcome="malformed"} 1.0' in text
    assert 'sidecar_webhook_reviews_total{outcome="error"} 0.0' in text
    plain = await webhook.metrics(f"http://127.0.0.1:{webhook.server.metrics_port}")
    assert 'sidecar_webhook_reviews_total{outcome="injected"} 1.0' in plain
    for path in ("/healthz", "/readyz"):
        async with webhook.session.get(webhook.base + path, ssl=webhook.context) as resp:
            assert resp.status == 200


async def test_certificate_rotation_without_restart(webhook: _Client, tmp_path: Path) -> None:
    port = webhook.server.port
    assert await _peer_common_name(port, webhook.context) == "first"
    new_dir = tmp_path / "new"
    new_dir.mkdir()
    new_cert, new_key = _write_cert(new_dir, "second")
    trusts_both = _client_context(Path(webhook.server.state.settings.tls_cert), new_cert)
    # half a renewal (new certificate, old key) must not break the server: it keeps the old pair
    os.replace(new_cert, webhook.server.state.settings.tls_cert)
    for _ in range(10):
        await asyncio.sleep(0.05)
        assert await _peer_common_name(port, trusts_both) == "first"
    os.replace(new_key, webhook.server.state.settings.tls_key)
    names = []
    for _ in range(100):  # the watcher checks every 50 ms
        names.append(await _peer_common_name(port, trusts_both))
        if names[-1] == "second":
            break
        await asyncio.sleep(0.05)
    assert names[-1] == "second"
    assert webhook.server.state.tls.reloads == 1
    assert "sidecar_webhook_cert_reloads_total 1.0" in await webhook.metrics(
        f"http://127.0.0.1:{webhook.server.metrics_port}"
    )
    webhook.context = _client_context(Path(webhook.server.state.settings.tls_cert))
    response = await webhook.review(_pod())  # and it still answers over the new certificate
    assert response["patchType"] == "JSONPatch"


async def test_a_client_that_does_not_trust_the_certificate_is_refused(webhook: _Client, tmp_path: Path) -> None:
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    stranger, _ = _write_cert(other_dir, "stranger")
    with pytest.raises(ssl.SSLCertVerificationError):
        await _peer_common_name(webhook.server.port, _client_context(stranger))


def test_missing_certificate_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot load"):
        WebhookServer(WebhookSettings(tls_cert=str(tmp_path / "no.crt"), tls_key=str(tmp_path / "no.key")))


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_the_command_serves_until_sigterm(tmp_path: Path) -> None:
    import signal
    import sys

    cert, key = _write_cert(tmp_path, "cli")
    port, metrics = _free_port(), _free_port()
    # the same parser and runner `sidecar webhook` uses, without the other commands' imports
    script = (
        "import argparse, sys\n"
        "from sidecar.k8s.cli import configure_webhook, run_webhook\n"
        "p = argparse.ArgumentParser(); configure_webhook(p)\n"
        "sys.exit(run_webhook(p.parse_args(sys.argv[1:])))\n"
    )
    args = [
        "--listen",
        f"127.0.0.1:{port}",
        "--metrics-listen",
        f"127.0.0.1:{metrics}",
        "--tls-cert",
        str(cert),
        "--tls-key",
        str(key),
    ]
    root = _ROOT
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, *args, env=env, stderr=asyncio.subprocess.PIPE
    )
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(200):
                try:
                    async with session.post(
                        f"https://127.0.0.1:{port}/mutate", json=_review(_pod()), ssl=_client_context(cert)
                    ) as resp:
                        body = await resp.json()
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            else:
                pytest.fail("webhook did not start")
        assert body["response"]["patchType"] == "JSONPatch"
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_bad_webhook_flags_are_config_errors(tmp_path: Path) -> None:
    import argparse

    from sidecar.k8s.cli import configure_webhook, run_webhook

    parser = argparse.ArgumentParser()
    configure_webhook(parser)
    with pytest.raises(ConfigError, match="--listen"):
        run_webhook(parser.parse_args(["--listen", "nowhere", "--tls-cert", "a", "--tls-key", "b"]))
    with pytest.raises(ConfigError, match="cert-check-interval"):
        run_webhook(parser.parse_args(["--cert-check-interval", "0", "--tls-cert", "a", "--tls-key", "b"]))
