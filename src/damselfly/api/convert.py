"""Domain records <-> protobuf messages, in one place."""

from __future__ import annotations

from damselfly.api.gen.common.v1 import common_pb2
from damselfly.api.gen.dfdaemon.v1 import dfdaemon_pb2
from damselfly.core.models import (
    ByteRange,
    DownloadRequest,
    HostInfo,
    HostType,
    ParentInfo,
    PieceInfo,
    Priority,
    Traffic,
    TrafficTotals,
)


def host_to_pb(host: HostInfo) -> common_pb2.Host:
    return common_pb2.Host(
        id=host.id,
        type=common_pb2.HostType.ValueType(int(host.type)),
        hostname=host.hostname,
        ip=host.ip,
        port=host.port,
        download_port=host.download_port,
        idc=host.idc,
        location=host.location,
        upload_limit=host.upload_limit,
        max_tx_bandwidth=host.max_tx_bandwidth,
        max_rx_bandwidth=host.max_rx_bandwidth,
        disable_shared=host.disable_shared,
    )


def host_from_pb(msg: common_pb2.Host) -> HostInfo:
    return HostInfo(
        id=msg.id,
        type=HostType(msg.type) if msg.type in (0, 1) else HostType.NORMAL,
        hostname=msg.hostname,
        ip=msg.ip,
        port=msg.port,
        download_port=msg.download_port,
        idc=msg.idc,
        location=msg.location,
        upload_limit=msg.upload_limit or 200,
        max_tx_bandwidth=msg.max_tx_bandwidth,
        max_rx_bandwidth=msg.max_rx_bandwidth,
        disable_shared=msg.disable_shared,
    )


def parent_to_pb(parent: ParentInfo) -> common_pb2.Peer:
    return common_pb2.Peer(id=parent.peer_id, host=host_to_pb(parent.host))


def parent_from_pb(msg: common_pb2.Peer) -> ParentInfo:
    return ParentInfo(peer_id=msg.id, host=host_from_pb(msg.host))


def piece_to_pb(piece: PieceInfo) -> common_pb2.Piece:
    return common_pb2.Piece(
        number=piece.number,
        offset=piece.offset,
        length=piece.length,
        crc32c=piece.crc32c,
        parent_id=piece.parent_id,
        traffic_type=common_pb2.TrafficType.ValueType(int(piece.traffic)),
        cost_ns=piece.cost_ns,
        digest_pending=piece.digest_pending,
    )


def piece_from_pb(msg: common_pb2.Piece) -> PieceInfo:
    traffic = Traffic(msg.traffic_type) if msg.traffic_type in (0, 1, 2, 3) else Traffic.LOCAL
    return PieceInfo(
        number=msg.number,
        offset=msg.offset,
        length=msg.length,
        crc32c=msg.crc32c,
        parent_id=msg.parent_id,
        traffic=traffic,
        cost_ns=msg.cost_ns,
        digest_pending=msg.digest_pending,
    )


def download_to_pb(req: DownloadRequest) -> common_pb2.Download:
    msg = common_pb2.Download(
        url=req.url,
        digest=req.digest,
        tag=req.tag,
        application=req.application,
        request_header=req.headers,
        priority=int(req.priority),
        output_path=req.output_path,
        disable_back_to_source=req.disable_back_to_source,
        need_back_to_source=req.need_back_to_source,
        timeout_seconds=req.timeout_s,
    )
    if req.filtered_query_params is not None:
        msg.filtered_query_params.params.extend(req.filtered_query_params)
    if req.piece_length is not None:
        msg.piece_length = req.piece_length
    if req.range is not None:
        msg.range.start, msg.range.length = req.range.start, req.range.length
    msg.rate_limit = req.rate_limit
    msg.overwrite = req.overwrite
    msg.force_hard_link = req.force_hard_link
    msg.content_for_calculating_task_id = req.content_for_calculating_task_id
    return msg


def download_from_pb(msg: common_pb2.Download) -> DownloadRequest:
    filtered = (
        list(msg.filtered_query_params.params) if msg.HasField("filtered_query_params") else None
    )
    priority = Priority(msg.priority) if 0 <= msg.priority <= 6 else Priority.LEVEL6
    return DownloadRequest(
        url=msg.url,
        output_path=msg.output_path,
        digest=msg.digest,
        tag=msg.tag,
        application=msg.application,
        filtered_query_params=filtered,
        headers=dict(msg.request_header),
        piece_length=msg.piece_length if msg.HasField("piece_length") else None,
        priority=priority,
        disable_back_to_source=msg.disable_back_to_source,
        need_back_to_source=msg.need_back_to_source,
        timeout_s=msg.timeout_seconds,
        rate_limit=msg.rate_limit,
        range=ByteRange(msg.range.start, msg.range.length) if msg.HasField("range") else None,
        overwrite=msg.overwrite,
        force_hard_link=msg.force_hard_link,
        content_for_calculating_task_id=msg.content_for_calculating_task_id,
    )


def traffic_to_pb(totals: TrafficTotals) -> dfdaemon_pb2.TrafficTotals:
    return dfdaemon_pb2.TrafficTotals(
        back_to_source=totals.back_to_source,
        seed_peer=totals.seed_peer,
        remote_peer=totals.remote_peer,
        local=totals.local,
    )
