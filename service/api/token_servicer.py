"""The TokenService servicer: make (the token shown once), list and revoke service tokens."""

from __future__ import annotations

from collections.abc import Callable

import grpc
from hanzo.kms.secretsync.v1 import token_pb2 as pb
from hanzo.kms.secretsync.v1 import token_service_pb2 as api
from hanzo.kms.secretsync.v1 import token_service_pb2_grpc as api_grpc

from domain.errors import FieldViolation, InvalidArgument, require
from domain.service_token import ServiceToken, ttl_of
from service.api.errors import translate_errors
from service.api.paging import page_size, read_page_token, split_page
from service.api.sync_convert import timestamp
from service.app.call_context import call_context, mutation_context
from service.app.service_tokens import ServiceTokens

MAX_PAGE = 500
TOKENS = "service_tokens"  # the list's name in its page tokens


def token_to_proto(token: ServiceToken) -> pb.ServiceToken:
    """Everything but the token and its hash."""
    return pb.ServiceToken(
        id=str(token.id),
        name=token.name,
        principal=token.principal,
        grants=[
            pb.Grant(
                project_id=g["project"],
                actions=g["actions"],
                environments=g["environments"],
                paths=g["paths"],
            )
            for g in token.grants
        ],
        expire_time=timestamp(token.expires_at),
        create_time=timestamp(token.created_on),
        revoke_time=timestamp(token.revoked_at),
        created_by=token.created_by,
    )


def grants_of(request: api.CreateServiceTokenRequest) -> list[dict[str, object]]:
    return [
        {
            "project": g.project_id,
            "actions": list(g.actions),
            "environments": list(g.environments),
            "paths": list(g.paths),
        }
        for g in request.grants
    ]


class TokenServicer(api_grpc.TokenServiceServicer):
    def __init__(self, tokens: ServiceTokens, on_revoke: Callable[[], None]) -> None:
        self.tokens = tokens
        self.on_revoke = on_revoke  # forget remembered tokens at once

    @translate_errors
    def CreateServiceToken(
        self, request: api.CreateServiceTokenRequest, context: grpc.ServicerContext
    ) -> api.CreateServiceTokenResponse:
        ttl = None
        if request.HasField("ttl"):
            ttl, violations = ttl_of(request.ttl.seconds, request.ttl.nanos)
            require(violations)
        record, token = self.tokens.create(
            request.name, request.principal, grants_of(request), ttl, call_context()
        )
        return api.CreateServiceTokenResponse(service_token=token_to_proto(record), token=token)

    @translate_errors
    def ListServiceTokens(
        self, request: api.ListServiceTokensRequest, context: grpc.ServicerContext
    ) -> api.ListServiceTokensResponse:
        size = page_size(request.page_size, MAX_PAGE)
        filters = {"include_revoked": request.include_revoked}
        after = read_page_token(request.page_token, TOKENS, filters)
        found = self.tokens.list_tokens(request.include_revoked)
        if after is not None:
            ids = [str(t.id) for t in found]
            if after not in ids:  # revoked since, and revoked ones are not listed
                raise InvalidArgument(
                    [FieldViolation("page_token", "is not a token from a previous page")]
                )
            found = found[ids.index(after) + 1 :]
        page, token = split_page(found[: size + 1], size, TOKENS, filters, lambda t: str(t.id))
        return api.ListServiceTokensResponse(
            service_tokens=[token_to_proto(t) for t in page], next_page_token=token
        )

    @translate_errors
    def RevokeServiceToken(
        self, request: api.RevokeServiceTokenRequest, context: grpc.ServicerContext
    ) -> api.RevokeServiceTokenResponse:
        token = self.tokens.revoke(request.id, mutation_context(request.request_id))
        self.on_revoke()
        return api.RevokeServiceTokenResponse(service_token=token_to_proto(token))
