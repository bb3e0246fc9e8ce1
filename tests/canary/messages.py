"""Walking protobuf messages: marking the secrets a request carries, unmarking answers.

Generic over every message of the API, so a field added later is covered without
touching the canary (a new secret-bearing field must be named in SECRET_FIELDS).
"""

from __future__ import annotations

from collections.abc import Callable

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

# (message name, field name) -> what the field holds. Marked in requests; in answers
# these are the only places a secret may legitimately be seen, so they are blanked
# before answers are searched.
SECRET_FIELDS = {
    ("Secret", "value"): "secret value",
    ("ClientSecretAuth", "client_secret"): "client secret",
}
# Secrets in requests that cannot be marked (a PEM must still parse): recorded whole.
REQUEST_CREDENTIALS = {("CertificateAuth", "private_key_pem"): "private key"}
# Answers that legitimately carry a secret that is not marked (random, searched whole).
CREDENTIAL_ANSWERS = {("CreateServiceTokenResponse", "token"): "service token"}
# ResolveSecretsResponse.secrets: key -> resolved value.
VALUE_MAPS = {("ResolveSecretsResponse", "secrets")}


def _is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def _children(message: Message) -> list[Message]:
    """The messages directly inside `message` (map values and repeated ones too)."""
    found: list[Message] = []
    for field, value in message.ListFields():
        if field.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        if _is_map(field):
            if field.message_type.fields_by_name["value"].type == FieldDescriptor.TYPE_MESSAGE:
                found += list(value.values())
        elif field.is_repeated:
            found += list(value)
        else:
            found.append(value)
    return found


def mark_secrets(message: Message, mark: Callable[[str, str], str]) -> None:
    """Replace every secret field's value with mark(value, kind), in place."""
    name = message.DESCRIPTOR.name
    for field, value in message.ListFields():
        kind = SECRET_FIELDS.get((name, field.name))
        if kind and field.type == FieldDescriptor.TYPE_STRING:
            setattr(message, field.name, mark(value, kind))
    for child in _children(message):
        mark_secrets(child, mark)


def map_strings(message: Message, change: Callable[[str], str]) -> None:
    """Replace every string in the message (map values and repeated ones too), in place."""
    for field, value in message.ListFields():
        if _is_map(field):
            if field.message_type.fields_by_name["value"].type == FieldDescriptor.TYPE_STRING:
                for key in list(value):
                    value[key] = change(value[key])
        elif field.type == FieldDescriptor.TYPE_STRING:
            if field.is_repeated:
                value[:] = [change(v) for v in value]
            else:
                setattr(message, field.name, change(value))
    for child in _children(message):
        map_strings(child, change)


def credentials_in(message: Message, fields: dict[tuple[str, str], str]) -> list[str]:
    """The values of these credential fields anywhere in the message."""
    name = message.DESCRIPTOR.name
    found = [value for field, value in message.ListFields() if (name, field.name) in fields]
    for child in _children(message):
        found += credentials_in(child, fields)
    return [value for value in found if value]


def pem_lines(pem: str) -> list[str]:
    """A PEM's base64 lines: random, so each is worth searching for on its own."""
    lines = [line.strip() for line in pem.splitlines()]
    return [line for line in lines if len(line) >= 40 and not line.startswith("-----")]


def without_secrets(message: Message) -> Message:
    """A copy with the fields that may hold secrets blanked: what must hold none."""
    copy = type(message)()
    copy.CopyFrom(message)
    _blank(copy)
    return copy


def _blank(message: Message) -> None:
    name = message.DESCRIPTOR.name
    for field, value in message.ListFields():
        key = (name, field.name)
        if key in SECRET_FIELDS or key in CREDENTIAL_ANSWERS:
            message.ClearField(field.name)
        elif key in VALUE_MAPS:
            for secret_key in list(value):
                value[secret_key] = ""
    for child in _children(message):
        _blank(child)
