"""The AzureConnectionService servicer: parse, call one use case, answer.

Credentials go in; they never come out: connection_to_proto has no secret to copy.
"""

from __future__ import annotations

import grpc
from hanzo.kms.secretsync.v1 import azure_connection_pb2 as pb
from hanzo.kms.secretsync.v1 import azure_connection_service_pb2 as api
from hanzo.kms.secretsync.v1 import azure_connection_service_pb2_grpc as api_grpc

from domain.connection import AuthMethod, AzureConnection
from service.api.errors import translate_errors
from service.api.paging import page_size, read_page_token, split_page
from service.api.sync_convert import timestamp
from service.app.call_context import mutation_context
from service.app.connections import AuthInput, AzureConnections

MAX_PAGE = 500
CONNECTIONS = "azure_connections"  # the list's name in its page tokens
CLOUDS = {
    pb.AZURE_CLOUD_PUBLIC: "public",
    pb.AZURE_CLOUD_CHINA: "china",
    pb.AZURE_CLOUD_US_GOVERNMENT: "us_government",
}
CLOUD_NUMBERS = {v: k for k, v in CLOUDS.items()}
AUTH_METHOD_NUMBERS = {
    AuthMethod.CLIENT_SECRET: pb.AZURE_AUTH_METHOD_CLIENT_SECRET,
    AuthMethod.CERTIFICATE: pb.AZURE_AUTH_METHOD_CERTIFICATE,
    AuthMethod.MANAGED_IDENTITY: pb.AZURE_AUTH_METHOD_MANAGED_IDENTITY,
}


def connection_to_proto(connection: AzureConnection) -> pb.AzureConnection:
    return pb.AzureConnection(
        id=str(connection.id),
        project_id=connection.project_id,
        name=connection.name,
        description=connection.description,
        cloud=CLOUD_NUMBERS.get(connection.cloud, pb.AZURE_CLOUD_UNSPECIFIED),
        auth_method=AUTH_METHOD_NUMBERS[AuthMethod(connection.auth_method)],
        tenant_id=connection.tenant_id,
        client_id=connection.client_id,
        created_at=timestamp(connection.created_on),
    )


def auth_input(request: api.CreateAzureConnectionRequest) -> AuthInput:
    which = request.WhichOneof("auth")
    if which == "client_secret_auth":
        a = request.client_secret_auth
        return AuthInput(
            AuthMethod.CLIENT_SECRET,
            a.tenant_id,
            a.client_id,
            a.authority_host,
            {"client_secret": a.client_secret},
        )
    if which == "certificate_auth":
        c = request.certificate_auth
        return AuthInput(
            AuthMethod.CERTIFICATE,
            c.tenant_id,
            c.client_id,
            secrets={"certificate_pem": c.certificate_pem, "private_key_pem": c.private_key_pem},
        )
    if which == "managed_identity_auth":
        return AuthInput(
            AuthMethod.MANAGED_IDENTITY, client_id=request.managed_identity_auth.client_id
        )
    return AuthInput(None)


class AzureConnectionServicer(api_grpc.AzureConnectionServiceServicer):
    def __init__(self, connections: AzureConnections) -> None:
        self.connections = connections

    @translate_errors
    def CreateAzureConnection(
        self, request: api.CreateAzureConnectionRequest, context: grpc.ServicerContext
    ) -> api.CreateAzureConnectionResponse:
        connection = self.connections.create(
            request.project_id,
            request.name,
            request.description,
            CLOUDS.get(request.cloud, ""),
            auth_input(request),
            mutation_context(request.request_id),
        )
        return api.CreateAzureConnectionResponse(connection=connection_to_proto(connection))

    @translate_errors
    def GetAzureConnection(
        self, request: api.GetAzureConnectionRequest, context: grpc.ServicerContext
    ) -> api.GetAzureConnectionResponse:
        connection = self.connections.get(request.connection_id)
        return api.GetAzureConnectionResponse(connection=connection_to_proto(connection))

    @translate_errors
    def ListAzureConnections(
        self, request: api.ListAzureConnectionsRequest, context: grpc.ServicerContext
    ) -> api.ListAzureConnectionsResponse:
        size = page_size(request.page_size, MAX_PAGE)
        filters = {"project_id": request.project_id.lower()}
        after = read_page_token(request.page_token, CONNECTIONS, filters) or ""
        found = self.connections.list_connections(
            request.project_id, after_name=after, limit=size + 1
        )
        page, token = split_page(found, size, CONNECTIONS, filters, lambda c: c.name)
        return api.ListAzureConnectionsResponse(
            connections=[connection_to_proto(c) for c in page], next_page_token=token
        )

    @translate_errors
    def DeleteAzureConnection(
        self, request: api.DeleteAzureConnectionRequest, context: grpc.ServicerContext
    ) -> api.DeleteAzureConnectionResponse:
        self.connections.delete(request.connection_id, mutation_context(request.request_id))
        return api.DeleteAzureConnectionResponse()

    @translate_errors
    def ValidateAzureConnection(
        self, request: api.ValidateAzureConnectionRequest, context: grpc.ServicerContext
    ) -> api.ValidateAzureConnectionResponse:
        outcome = self.connections.validate(request.connection_id, request.vault_base_url)
        return api.ValidateAzureConnectionResponse(
            result=pb.AzureConnectionValidation(
                ok=outcome.ok,
                problem=pb.AzureConnectionProblem.Value(
                    "AZURE_CONNECTION_PROBLEM_" + outcome.problem
                ),
                message=outcome.message,
            )
        )
