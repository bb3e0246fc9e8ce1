"""Rebuilding a unary gRPC handler around a wrapped behaviour, for our interceptors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

Wrap = Callable[[str, Callable[..., Any]], Callable[..., Any]]


def rewrapped(
    handler: grpc.RpcMethodHandler,
    method: str,
    unary: Wrap,
    stream: Wrap,
    request_deserializer: Callable[[bytes], Any] | None = None,
) -> grpc.RpcMethodHandler:
    """The same handler (unary-unary or unary-stream) with its behaviour wrapped (and
    its request deserializer replaced, when one is given)."""
    deserializer = request_deserializer or handler.request_deserializer
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(
            unary(method, handler.unary_unary),
            request_deserializer=deserializer,
            response_serializer=handler.response_serializer,
        )
    return grpc.unary_stream_rpc_method_handler(
        stream(method, handler.unary_stream),
        request_deserializer=deserializer,
        response_serializer=handler.response_serializer,
    )
