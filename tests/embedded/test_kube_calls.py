"""The operator's own Kubernetes calls (`mlops_operator.kube`): against the embedded API, and against a TLS
server that checks what a cluster checks (its CA, our client certificate, the bearer token)."""
from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path

import kubernetes.config.kube_config
import pytest
import yaml
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mlops_operator import kube
from mlops_operator.embedded import EmbeddedAPIServer

MLOPS = "mlops.dev/v1alpha1"


@pytest.fixture
async def kubeconfig_of(monkeypatch):
    """Point the kubernetes package's default kubeconfig at a file; the client is dropped before and after."""
    await kube.close()

    def use(path: Path) -> None:
        monkeypatch.setattr(kubernetes.config.kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(path))

    yield use
    await kube.close()
    assert not kube.connected()


def run(name: str) -> dict:
    return {"apiVersion": MLOPS, "kind": "TrainingRun", "metadata": {"name": name}, "spec": {"projectRef": {"name": "p"}}}


async def test_calls_against_the_embedded_api(api: EmbeddedAPIServer, kubeconfig_of, tmp_path) -> None:
    kubeconfig_of(api.write_kubeconfig(tmp_path / "kubeconfig"))
    made, created = await kube.create(MLOPS, "trainingruns", "default", run("r1"))
    assert created and made["metadata"]["uid"]
    again, created = await kube.create(MLOPS, "trainingruns", "default", run("r1"))
    assert not created and again["metadata"]["uid"] == made["metadata"]["uid"]  # 409: the existing one
    assert await kube.get(MLOPS, "trainingruns", "default", "missing") is None

    patched = await kube.patch(MLOPS, "trainingruns", "default", "r1", {"metadata": {"labels": {"a": "b"}}})
    assert patched["metadata"]["labels"] == {"a": "b"}
    written = await kube.patch_status(MLOPS, "trainingruns", "default", "r1", {
        "metadata": {"resourceVersion": patched["metadata"]["resourceVersion"]}, "status": {"phase": "Running"}})
    assert written["status"]["phase"] == "Running"
    with pytest.raises(kube.Conflict):  # the precondition names a version that is no longer current
        await kube.patch_status(MLOPS, "trainingruns", "default", "r1", {
            "metadata": {"resourceVersion": patched["metadata"]["resourceVersion"]}, "status": {"phase": "Failed"}})
    assert await kube.patch_status(MLOPS, "trainingruns", "default", "gone", {"status": {"phase": "x"}}) is None

    with pytest.raises(kube.ApiError) as refused:  # the API's own words reach the log and the condition
        await kube.create(MLOPS, "trainingruns", "default", {**run("bad"), "spec": {"projectRef": {"name": 3}}})
    assert refused.value.status == 422 and "projectRef" in str(refused.value)

    api.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "default"},
               "data": {"k": "dg=="}})
    assert (await kube.get("v1", "secrets", "default", "s"))["data"] == {"k": "dg=="}  # the core group's path
    agents = {c.user_agent for c in api.emulator.calls if c.resource in ("trainingruns", "secrets")}
    assert agents == {kube.USER_AGENT}


def _certificate(name: str, key: ec.EllipticCurvePrivateKey, tmp: Path) -> tuple[Path, Path]:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp / f"{name}.crt", tmp / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


async def test_tls_client_certificate_and_token_from_the_kubeconfig(kubeconfig_of, tmp_path) -> None:
    server_cert, server_key = _certificate("server", ec.generate_private_key(ec.SECP256R1()), tmp_path)
    client_cert, client_key = _certificate("operator", ec.generate_private_key(ec.SECP256R1()), tmp_path)
    seen: list[dict] = []

    async def answer(request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peercert") or {}
        seen.append({"authorization": request.headers.get("Authorization"), "peer": str(peer.get("subject")),
                     "agent": request.headers.get("User-Agent"), "path": request.path})
        return web.json_response({"metadata": {"name": "x"}})

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(server_cert, server_key)
    context.load_verify_locations(client_cert)
    context.verify_mode = ssl.CERT_REQUIRED  # no client certificate, no answer
    app = web.Application()
    app.router.add_get("/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        kubeconfig_of(_kubeconfig(tmp_path / "kubeconfig", f"https://127.0.0.1:{port}", server_cert,
                                  client_cert, client_key, token="t0ken"))
        assert await kube.get(MLOPS, "mlprojects", "ns", "x") == {"metadata": {"name": "x"}}
        assert seen == [{"authorization": "Bearer t0ken", "peer": "((('commonName', 'operator'),),)",
                         "agent": kube.USER_AGENT, "path": "/apis/mlops.dev/v1alpha1/namespaces/ns/mlprojects/x"}]

        await kube.close()  # a CA that did not sign the server's certificate: refused, not trusted
        kubeconfig_of(_kubeconfig(tmp_path / "other", f"https://127.0.0.1:{port}", client_cert,
                                  client_cert, client_key, token="t0ken"))
        with pytest.raises(Exception, match="certificate verify failed"):
            await kube.get(MLOPS, "mlprojects", "ns", "x")
        assert len(seen) == 1
    finally:
        await runner.cleanup()


def _kubeconfig(path: Path, server: str, ca: Path, cert: Path, key: Path, token: str) -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": server, "certificate-authority": str(ca)}}],
        "users": [{"name": "u", "user": {"client-certificate": str(cert), "client-key": str(key), "token": token}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}]}))
    return path

