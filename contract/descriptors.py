"""The contract as plain data: services, messages and enums of protos/, with comments.

Read from `buf build` (the same compiler `make lint` and `buf breaking` use), so the
API page and the contract tests see exactly what buf sees, comments included.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf import descriptor_pb2

ROOT = Path(__file__).resolve().parent.parent
BUF = Path(sys.executable).parent / "buf"  # from the buf-bin package of the venv

# FileDescriptorProto / DescriptorProto / ServiceDescriptorProto field numbers, as
# SourceCodeInfo.Location paths spell them.
MESSAGE, ENUM, SERVICE = 4, 5, 6
M_FIELD, M_NESTED, M_ENUM, M_ONEOF = 2, 3, 4, 8
S_METHOD, E_VALUE = 2, 2

FDP = descriptor_pb2.FieldDescriptorProto
SCALARS = {
    number: name.removeprefix("TYPE_").lower()
    for name, number in FDP.Type.items()
    if name not in ("TYPE_MESSAGE", "TYPE_ENUM", "TYPE_GROUP")
}


@dataclass(frozen=True)
class Field:
    name: str
    number: int
    type: str  # "string", "SecretSync", "google.protobuf.Timestamp", "map<string, string>"
    repeated: bool
    oneof: str  # the oneof's name, or ""
    comment: str


@dataclass(frozen=True)
class Message:
    name: str  # relative to the package, e.g. "SecretSync" or "Outer.Inner"
    file: str
    comment: str
    fields: list[Field]
    oneofs: dict[str, str]  # oneof name -> its comment


@dataclass(frozen=True)
class EnumValue:
    name: str
    number: int
    comment: str


@dataclass(frozen=True)
class Enum:
    name: str
    file: str
    comment: str
    values: list[EnumValue]


@dataclass(frozen=True)
class Method:
    name: str
    input: str
    output: str
    client_streaming: bool
    server_streaming: bool
    comment: str


@dataclass(frozen=True)
class Service:
    name: str
    file: str
    comment: str
    methods: list[Method]


@dataclass
class Contract:
    package: str = ""
    services: list[Service] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    enums: list[Enum] = field(default_factory=list)


def build_image(protos: Path | None = None) -> descriptor_pb2.FileDescriptorSet:
    """Our files only (no imports), with source info: what `buf build` makes of protos/.

    A buf image is wire-compatible with a FileDescriptorSet; its extra fields are kept
    as unknown fields and ignored here.
    """
    command = [str(BUF), "build", "--exclude-imports", "-o", "-#format=binpb"]
    if protos is not None:
        command.insert(2, str(protos))
    image = subprocess.run(command, cwd=ROOT, check=True, capture_output=True).stdout
    return descriptor_pb2.FileDescriptorSet.FromString(image)


def load(protos: Path | None = None) -> Contract:
    return from_descriptors(build_image(protos))


def from_descriptors(files: descriptor_pb2.FileDescriptorSet) -> Contract:
    contract = Contract()
    for file in files.file:
        contract.package = contract.package or file.package
        comments = {
            tuple(location.path): _clean(location.leading_comments)
            for location in file.source_code_info.location
        }
        prefix = f".{file.package}."
        for index, service in enumerate(file.service):
            contract.services.append(_service(file.name, service, (SERVICE, index), comments,
                                              prefix))
        for index, message in enumerate(file.message_type):
            _messages(contract, file.name, message, "", (MESSAGE, index), comments, prefix)
        for index, enum in enumerate(file.enum_type):
            contract.enums.append(_enum(file.name, enum, "", (ENUM, index), comments))
    return contract


def _clean(comment: str) -> str:
    """protoc keeps the space after "//" and a final newline: drop both."""
    lines = [line[1:] if line.startswith(" ") else line for line in comment.split("\n")]
    return "\n".join(lines).strip()


def _type_name(type_name: str, prefix: str) -> str:
    return type_name.removeprefix(prefix).lstrip(".")


def _service(
    file: str,
    service: descriptor_pb2.ServiceDescriptorProto,
    path: tuple[int, ...],
    comments: dict[tuple[int, ...], str],
    prefix: str,
) -> Service:
    methods = [
        Method(
            name=method.name,
            input=_type_name(method.input_type, prefix),
            output=_type_name(method.output_type, prefix),
            client_streaming=method.client_streaming,
            server_streaming=method.server_streaming,
            comment=comments.get((*path, S_METHOD, index), ""),
        )
        for index, method in enumerate(service.method)
    ]
    return Service(service.name, file, comments.get(path, ""), methods)


def _messages(
    contract: Contract,
    file: str,
    message: descriptor_pb2.DescriptorProto,
    outer: str,
    path: tuple[int, ...],
    comments: dict[tuple[int, ...], str],
    prefix: str,
) -> None:
    """Add `message` and the messages and enums nested in it (map entries excepted)."""
    name = f"{outer}{message.name}"
    maps = {
        f"{prefix}{name}.{nested.name}": nested
        for nested in message.nested_type
        if nested.options.map_entry
    }
    fields = [
        Field(
            name=f.name,
            number=f.number,
            type=_field_type(f, maps, prefix),
            repeated=f.label == FDP.LABEL_REPEATED and f.type_name not in maps,
            oneof=(
                message.oneof_decl[f.oneof_index].name
                if f.HasField("oneof_index") and not f.proto3_optional
                else ""
            ),
            comment=comments.get((*path, M_FIELD, index), ""),
        )
        for index, f in enumerate(message.field)
    ]
    oneofs = {
        oneof.name: comments.get((*path, M_ONEOF, index), "")
        for index, oneof in enumerate(message.oneof_decl)
        if not oneof.name.startswith("_")  # the synthetic oneof of a proto3 optional
    }
    contract.messages.append(Message(name, file, comments.get(path, ""), fields, oneofs))
    for index, nested in enumerate(message.nested_type):
        if not nested.options.map_entry:
            _messages(contract, file, nested, f"{name}.", (*path, M_NESTED, index), comments,
                      prefix)
    for index, enum in enumerate(message.enum_type):
        contract.enums.append(_enum(file, enum, f"{name}.", (*path, M_ENUM, index), comments))


def _field_type(
    f: descriptor_pb2.FieldDescriptorProto,
    maps: dict[str, descriptor_pb2.DescriptorProto],
    prefix: str,
) -> str:
    if f.type_name in maps:
        key, value = maps[f.type_name].field
        return f"map<{_field_type(key, {}, prefix)}, {_field_type(value, {}, prefix)}>"
    if f.type in SCALARS:
        return SCALARS[f.type]
    return _type_name(f.type_name, prefix)


def _enum(
    file: str,
    enum: descriptor_pb2.EnumDescriptorProto,
    outer: str,
    path: tuple[int, ...],
    comments: dict[tuple[int, ...], str],
) -> Enum:
    values = [
        EnumValue(value.name, value.number, comments.get((*path, E_VALUE, index), ""))
        for index, value in enumerate(enum.value)
    ]
    return Enum(f"{outer}{enum.name}", file, comments.get(path, ""), values)
