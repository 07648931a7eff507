"""The deployment files for clusters (infra/deploy: container images, the compose file for one host,
the Kubernetes manifests) pass real validators from the registries: hadolint for the Dockerfiles,
the Compose specification's JSON schema (check-jsonschema) for the compose file, kubernetes-validate
in strict mode for the manifests, and yamllint for every YAML file. Each validator is also shown a
broken copy, which it must refuse, so a validator that accepts anything fails the test.
"""

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "infra" / "deploy"
BIN = pathlib.Path(sys.executable).parent
MANIFESTS = sorted(p for p in (DEPLOY / "kubernetes").glob("*.yaml") if p.name != "kustomization.yaml")
DOCKERFILES = sorted((DEPLOY / "containers").glob("Dockerfile*"))


def run(*args):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, check=False)


def hadolint(path):
    return run(BIN / "hadolint", "-c", DEPLOY / "containers" / ".hadolint.yaml", path)


def compose_schema(path):
    return run(BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", path)


def kubernetes(*paths):
    return run(BIN / "kubernetes-validate", "--strict", "--quiet", *paths)


def yamllint(*paths):
    return run(BIN / "yamllint", "-c", DEPLOY / ".yamllint.yaml", *paths)


def test_the_files_are_there():
    assert len(DOCKERFILES) == 2
    names = {p.stem for p in MANIFESTS}
    assert {"ingest", "enrich", "writer", "notifier", "query", "scheduler", "web", "namespace"} <= names
    listed = (DEPLOY / "kubernetes" / "kustomization.yaml").read_text()
    assert all(p.name in listed for p in MANIFESTS), "every manifest is in the kustomization"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfiles_pass_hadolint(dockerfile):
    result = hadolint(dockerfile)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_compose_file_follows_the_compose_specification():
    result = compose_schema(DEPLOY / "compose.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_manifests_are_valid_kubernetes():
    result = kubernetes(*MANIFESTS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_yaml_file_passes_yamllint():
    result = yamllint(DEPLOY / "compose.yaml", DEPLOY / ".yamllint.yaml", DEPLOY / "kubernetes", DEPLOY / "containers" / ".hadolint.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_stateful_service_has_probes_and_a_disruption_budget():
    for manifest in MANIFESTS:
        text = manifest.read_text()
        if "kind: Deployment" not in text:
            continue
        assert "kind: PodDisruptionBudget" in text, manifest.name
        assert "readinessProbe:" in text and "livenessProbe:" in text, manifest.name
        assert "requests:" in text, manifest.name
        if manifest.stem != "web":
            assert "path: /readyz" in text and "path: /healthz" in text, manifest.name


def test_the_validators_refuse_broken_files(tmp_path):
    broken_dockerfile = tmp_path / "Dockerfile"
    broken_dockerfile.write_text(DOCKERFILES[0].read_text().replace("USER 10001", "USER sightline", 1) + "\nMAINTAINER nobody\n")
    assert hadolint(broken_dockerfile).returncode != 0
    broken_compose = tmp_path / "compose.yaml"
    broken_compose.write_text((DEPLOY / "compose.yaml").read_text().replace("    image: sightline/writer:latest", "    imagee: sightline/writer:latest"))
    assert compose_schema(broken_compose).returncode != 0
    broken_manifest = tmp_path / "writer.yaml"
    broken_manifest.write_text((DEPLOY / "kubernetes" / "writer.yaml").read_text().replace("readinessProbe:", "readinesProbe:"))
    assert kubernetes(broken_manifest).returncode != 0
    badly_indented = tmp_path / "bad.yaml"
    badly_indented.write_text("a:\n  b: 1\n   c: 2\n")
    assert yamllint(badly_indented).returncode != 0
