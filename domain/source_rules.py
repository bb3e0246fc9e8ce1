"""Rules for the secret source: project, environment, key and comment limits."""

from __future__ import annotations

import re

from domain.errors import FieldViolation
from domain.rules import ENVIRONMENT_RE, MAX_ENVIRONMENT, NAME_RE
from domain.text_policy import check_text

# Keys: letters, digits, '_' and '-'. No '.', '/' or ':' — '.' separates the
# parts of a reference (${env.folder.KEY}) and '/' separates folders.
KEY_RE = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
MAX_VALUE_BYTES = 64 * 1024
MAX_COMMENT = 1024
MAX_DISPLAY_NAME = 64
MAX_BULK = 10_000


def check_key(key: str, field: str = "key") -> list[FieldViolation]:
    if not KEY_RE.fullmatch(key):
        return [FieldViolation(field, "must be 1-255 letters, digits, '_' or '-'")]
    return []


def check_value(value: str, field: str = "value") -> list[FieldViolation]:
    if len(value.encode()) > MAX_VALUE_BYTES:
        return [FieldViolation(field, f"must be at most {MAX_VALUE_BYTES} bytes")]
    return []


def check_comment(comment: str, field: str = "comment") -> list[FieldViolation]:
    if len(comment) > MAX_COMMENT:
        return [FieldViolation(field, f"must be at most {MAX_COMMENT} characters")]
    return check_text(comment, field, multiline=True)


def check_display_name(name: str, field: str = "name") -> list[FieldViolation]:
    if not name.strip():
        return [FieldViolation(field, "is required")]
    found = []
    if len(name) > MAX_DISPLAY_NAME:
        found.append(FieldViolation(field, f"must be at most {MAX_DISPLAY_NAME} characters"))
    return found + check_text(name, field)


def check_project_slug(slug: str, field: str = "slug") -> list[FieldViolation]:
    if not slug or len(slug) > 64 or not NAME_RE.fullmatch(slug):
        return [
            FieldViolation(field, "must be 1-64 lowercase letters, digits and single hyphens")
        ]
    return []


def check_environment_slug(slug: str, field: str = "environment") -> list[FieldViolation]:
    if not slug:
        return [FieldViolation(field, "is required")]
    found = []
    if len(slug) > MAX_ENVIRONMENT:
        found.append(FieldViolation(field, f"must be at most {MAX_ENVIRONMENT} characters"))
    if not ENVIRONMENT_RE.fullmatch(slug):
        found.append(
            FieldViolation(
                field, "must be an environment slug (lowercase letters, digits, '-' or '_')"
            )
        )
    return found
