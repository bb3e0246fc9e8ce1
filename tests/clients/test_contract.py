"""Contract hygiene: protos/ keeps the released contract, and its comments are complete
and true enough for clients in other languages to be written from them alone."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
from pathlib import Path

import grpc
import pytest

from contract import descriptors
from contract.descriptors import Contract, Message

ROOT = descriptors.ROOT
RELEASED = ROOT / "contract" / "v1.binpb"
BEHAVIOUR = re.compile(r"^(Required|Optional|Output only|Immutable|Input only)\.")
CODES = {code.name for code in grpc.StatusCode}
UPPER_WORD = re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b")
FIELD_PATH = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)*(?:\[i\])?(?:\.[a-z][a-z0-9_]*)*")


@pytest.fixture(scope="module")
def contract() -> Contract:
    return descriptors.load()


def breaking(workdir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(descriptors.BUF), "breaking", "--against", str(RELEASED)],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_protos_keep_the_released_contract():
    result = breaking(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_deleted_field_breaks_the_released_contract(tmp_path):
    shutil.copy(ROOT / "buf.yaml", tmp_path)
    shutil.copytree(ROOT / "protos", tmp_path / "protos")
    proto = tmp_path / "protos/hanzo/kms/secretsync/v1/secret_sync.proto"
    proto.write_text(proto.read_text().replace("  string etag = 28;\n", ""))
    result = breaking(tmp_path)
    assert result.returncode != 0
    assert 'field "28" with name "etag"' in result.stdout


def test_every_element_has_a_comment(contract):
    missing = [s.name for s in contract.services if not s.comment]
    missing += [f"{s.name}.{m.name}" for s in contract.services for m in s.methods if not m.comment]
    missing += [m.name for m in contract.messages if not m.comment]
    missing += [f"{m.name}.{f.name}" for m in contract.messages for f in m.fields if not f.comment]
    missing += [f"{m.name}.{o}" for m in contract.messages for o, c in m.oneofs.items() if not c]
    missing += [e.name for e in contract.enums if not e.comment]
    missing += [f"{e.name}.{v.name}" for e in contract.enums for v in e.values if not v.comment]
    assert missing == []


def test_every_field_a_client_sends_or_reads_in_a_resource_states_its_behaviour(contract):
    """Responses are output by nature; every other message's fields open with a label."""
    unlabeled = [
        f"{m.name}.{f.name}"
        for m in contract.messages
        if not m.name.endswith("Response")
        for f in m.fields
        if not BEHAVIOUR.match(f.comment)
    ]
    assert unlabeled == []


def errors_section(comment: str) -> list[str]:
    """The "- CODE: ..." entries after an "Errors" line, continuation lines joined."""
    lines = comment.split("\n")
    start = next((i for i, line in enumerate(lines) if line.startswith("Errors")), None)
    entries: list[str] = []
    for line in lines[start + 1 :] if start is not None else []:
        if line.startswith("- "):
            entries.append(line[2:])
        elif line.startswith("  ") and entries:
            entries[-1] += " " + line.strip()
        else:
            break
    return entries


def string_literals(*packages: str) -> set[str]:
    found: set[str] = set()
    for package in packages:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    found.add(node.value)
    return found


def test_every_rpc_lists_its_errors_by_code_and_reasons_the_service_raises(contract):
    raised = string_literals("domain", "service")
    for service in contract.services:
        for method in service.methods:
            entries = errors_section(method.comment)
            assert entries, f"{method.name}: no Errors section"
            for entry in entries:
                code, _, text = entry.partition(":")
                assert code in CODES, f"{method.name}: {code} is not a gRPC code"
                unknown = set(UPPER_WORD.findall(text)) - raised - CODES
                assert not unknown, f"{method.name}: reasons no code raises: {unknown}"


def resolves(messages: dict[str, Message], message: str, path: str) -> bool:
    """Whether a field path ("secrets[i].key") names a field of `message`."""
    for part in path.split("."):
        fields = {f.name: f.type for f in messages[message].fields} if message in messages else {}
        if part.removesuffix("[i]") not in fields:
            return False
        message = fields[part.removesuffix("[i]")]
    return True


def test_the_bad_request_fields_named_for_each_rpc_are_fields_of_its_request(contract):
    """Compound paths ("sync_options.key_schema", "secrets[i].key") must resolve."""
    messages = {m.name: m for m in contract.messages}
    for service in contract.services:
        for method in service.methods:
            for entry in errors_section(method.comment):
                if not entry.startswith("INVALID_ARGUMENT"):
                    continue
                text = re.sub(r"\([^)]*\)", "", entry.partition(":")[2])
                paths = [p for p in FIELD_PATH.findall(text) if "_" in p or "." in p]
                wrong = [p for p in paths if not resolves(messages, method.input, p)]
                assert not wrong, f"{method.name}: not fields of {method.input}: {wrong}"


def test_every_rpc_taking_a_request_id_lists_it_among_its_bad_fields(contract):
    """request_id is checked for form and reuse wherever a request carries it."""
    messages = {m.name: m for m in contract.messages}
    for service in contract.services:
        for method in service.methods:
            if "request_id" not in {f.name for f in messages[method.input].fields}:
                continue
            invalid = [e for e in errors_section(method.comment) if e.startswith("INVALID_")]
            assert invalid and "request_id" in invalid[0], method.name
