"""`google.rpc.Status` with `gateway.ErrorDetail`s: how Fabric's gateway explains a failed call.

Fabric attaches one `ErrorDetail` (address, MSP id, message) per peer or orderer to the gRPC
status, serialised in the `grpc-status-details-bin` trailer. The message class is built here from
its descriptor in a private pool, so no googleapis package is needed and none can clash.
"""

from __future__ import annotations

from collections.abc import Sequence

from fabric_protos.gateway import gateway_pb2
from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, message_factory

from network.errors import ErrorDetail

STATUS_DETAILS_KEY = "grpc-status-details-bin"
_TYPE_URL_PREFIX = "type.googleapis.com/"


def _status_class() -> type:
    pool = descriptor_pool.DescriptorPool()
    any_file = descriptor_pb2.FileDescriptorProto()
    any_pb2.DESCRIPTOR.CopyToProto(any_file)
    pool.Add(any_file)
    status_file = descriptor_pb2.FileDescriptorProto(
        name="google/rpc/status.proto",
        package="google.rpc",
        dependency=["google/protobuf/any.proto"],
        syntax="proto3",
    )
    msg = status_file.message_type.add(name="Status")
    f = descriptor_pb2.FieldDescriptorProto
    msg.field.add(name="code", number=1, type=f.TYPE_INT32, label=f.LABEL_OPTIONAL)
    msg.field.add(name="message", number=2, type=f.TYPE_STRING, label=f.LABEL_OPTIONAL)
    msg.field.add(
        name="details",
        number=3,
        type=f.TYPE_MESSAGE,
        label=f.LABEL_REPEATED,
        type_name=".google.protobuf.Any",
    )
    pool.Add(status_file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("google.rpc.Status"))


Status = _status_class()


def encode_status(code: int, message: str, details: Sequence[ErrorDetail] = ()) -> bytes:
    """Serialise a google.rpc.Status carrying gateway ErrorDetails."""
    status = Status(code=code, message=message)
    for d in details:
        detail = gateway_pb2.ErrorDetail(address=d.address, msp_id=d.msp_id, message=d.message)
        status.details.add(
            type_url=_TYPE_URL_PREFIX + detail.DESCRIPTOR.full_name,
            value=detail.SerializeToString(),
        )
    return status.SerializeToString()


def decode_details(status_bytes: bytes) -> tuple[ErrorDetail, ...]:
    """The gateway ErrorDetails inside a serialised google.rpc.Status (others are skipped)."""
    try:
        status = Status.FromString(status_bytes)
    except Exception:
        return ()
    out = []
    wanted = _TYPE_URL_PREFIX + gateway_pb2.ErrorDetail.DESCRIPTOR.full_name
    for item in status.details:
        if item.type_url != wanted:
            continue
        d = gateway_pb2.ErrorDetail.FromString(item.value)
        out.append(ErrorDetail(address=d.address, msp_id=d.msp_id, message=d.message))
    return tuple(out)


def details_from_trailers(
    metadata: Sequence[tuple[str, str | bytes]] | None,
) -> tuple[ErrorDetail, ...]:
    for key, value in metadata or ():
        if key == STATUS_DETAILS_KEY and isinstance(value, bytes):
            return decode_details(value)
    return ()
