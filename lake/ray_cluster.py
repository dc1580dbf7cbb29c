"""How winnow reaches a Ray cluster, or starts one that only this machine can reach.

- `reachable(address)`: before Ray is asked to connect, the address is asked whether a Ray
  GCS answers there (its cluster id, over gRPC, with the token of RAY_AUTH_MODE=token if
  any), then for the cluster's live nodes: a driver joins the node on its own machine, so
  one must live at this machine's address (127.0.0.1 for a loopback cluster) with its raylet
  answering. Nothing listening, something else listening, a token missing or refused, no
  node here to join: one EngineUsageError within seconds (Ray itself would retry for a
  minute or more, then fail naming the machine's network address).
- `loopback()`: Ray's switch for one-machine clusters, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0,
  for the time of `ray.init`. Ray 2.60 chooses a node's address in Python (a loopback
  `_node_ip_address` is replaced by the machine's network address unless the switch is off)
  and every server it starts listens on all interfaces unless that address is loopback
  (gcs_server, raylet and core workers on `::`, the runtime-env agent on the node's
  address). With the switch off the node is 127.0.0.1 and all of them listen there only.
  The switch is read once, when Ray is imported: it is set in the environment first (the
  processes Ray starts inherit it) and, if Ray was imported already, on Ray's constant.
"""

from __future__ import annotations

import os
import socket
import sys
from contextlib import contextmanager
from urllib.parse import urlsplit

from winnow.lake.errors import UsageError

CONNECT_SECONDS = 5.0  # how long an unreachable --ray-address is tried before the job is refused
ANSWER_SECONDS = 3.0  # how long a listener at --ray-address has to answer as a Ray GCS


class AddressError(UsageError):
    """A --ray-address where no Ray cluster answers (or one that wants a token)."""


LOOPBACK_SWITCH = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # "0": Ray's node address is its loopback one


def reachable(address: str) -> bool:
    """An AddressError unless a Ray cluster answers at a Ray address (host:port, the GCS
    of its head; ray://host:port, its client server, is only checked for a listener; `auto`
    and `local` are Ray's own) and has a live node on this machine for the driver to join
    (Ray would look for one for a minute or more, then fail naming another address). Whether
    to connect in loopback mode: the address is loopback and a node lives on loopback (Ray
    would otherwise replace a loopback address by the machine's network address), or, if the
    GCS cannot list its nodes, the GCS answers on loopback only."""
    if address in ("auto", "local"):
        return False
    parts = urlsplit(address if "://" in address else f"ray://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
    if not host or not port:
        raise AddressError(f"--ray-address {address!r}: give HOST:PORT (the head node's GCS port, 6379 by "
                           "default) or ray://HOST:PORT")
    try:
        socket.create_connection((host, port), timeout=CONNECT_SECONDS).close()
    except OSError as e:
        raise AddressError(f"--ray-address {address}: no Ray cluster answers there ({e.strerror or e}); "
                           "start one with `ray start --head` or check the address") from None
    if "://" in address or os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true"):
        return False
    answer = _gcs_answer(host, port)
    if answer == "token":
        raise AddressError(f"--ray-address {address}: the Ray cluster there asks for its token: set "
                               "RAY_AUTH_MODE=token and RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH, a file holding it)")
    if answer != "ray":
        raise AddressError(f"--ray-address {address}: no Ray cluster answers there (something listens, but "
                               f"not a Ray GCS: {answer}); give the head node's GCS port (6379 by default)")
    nodes = _nodes(host, port)
    if is_loopback(host):
        network = _network_address()
        here = network is not None and _gcs_answer(network, port) == "ray"  # the GCS listens beyond loopback
        if nodes is None:
            return not here
        if nodes & {"127.0.0.1", "::1", host}:
            return True  # join the loopback node: the switch keeps Ray from trying the network address
        if here and network in nodes:
            return False
        mine = {"127.0.0.1", network}
    else:
        own = _own_address(host, port)
        if nodes is None or own in nodes:
            return False
        mine = {own}
    raise AddressError(f"--ray-address {address}: the Ray cluster there has no live node on this machine "
                       f"({', '.join(sorted(filter(None, mine)))}) for winnow to join (its nodes: "
                       f"{', '.join(sorted(nodes)) or 'none alive'}); run winnow on one of its nodes")


def _nodes(host: str, port: int) -> set[str] | None:
    """The addresses of the cluster's live nodes whose raylet answers (the GCS asked for them,
    each raylet's port tried), or None if the GCS could not say."""
    try:
        import grpc
        from ray.core.generated import gcs_pb2, gcs_service_pb2
    except ImportError:
        return None
    token = _token()
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    with grpc.insecure_channel(target, options=[("grpc.enable_http_proxy", 0)]) as channel:
        ask = channel.unary_unary("/ray.rpc.NodeInfoGcsService/GetAllNodeInfo",
                                  request_serializer=gcs_service_pb2.GetAllNodeInfoRequest.SerializeToString,
                                  response_deserializer=gcs_service_pb2.GetAllNodeInfoReply.FromString)
        try:
            reply = ask(gcs_service_pb2.GetAllNodeInfoRequest(), timeout=ANSWER_SECONDS,
                        metadata=[("authorization", f"Bearer {token}")] if token else None)
        except grpc.RpcError:
            return None
    live = set()
    for node in reply.node_info_list:
        if node.state == gcs_pb2.GcsNodeInfo.GcsNodeState.ALIVE:
            try:
                socket.create_connection((node.node_manager_address, node.node_manager_port), timeout=1.0).close()
            except OSError:
                continue  # its raylet is gone: the GCS has not noticed yet
            live.add(node.node_manager_address)
    return live


def _own_address(host: str, port: int) -> str | None:
    """This machine's address on the way to host:port (a UDP socket's own address; nothing is
    sent), as Ray finds the address of a driver's node."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.connect((host, port))
            return s.getsockname()[0]
    except OSError:
        return None


def answers(address: str) -> bool:
    """Whether a Ray GCS answers at `address` (host:port) within ANSWER_SECONDS."""
    host, _, port = address.rpartition(":")
    return _gcs_answer(host.strip("[]"), int(port)) == "ray"


def _gcs_answer(host: str, port: int) -> str:
    """'ray' if a Ray GCS answers at host:port (its cluster id, asked with the token of
    RAY_AUTH_MODE=token if any), 'token' if it refuses the token, else what went wrong."""
    import grpc  # a dependency of Ray's

    token = _token()
    metadata = [("authorization", f"Bearer {token}")] if token else None
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    with grpc.insecure_channel(target, options=[("grpc.enable_http_proxy", 0)]) as channel:
        ask = channel.unary_unary("/ray.rpc.NodeInfoGcsService/GetClusterId",
                                  request_serializer=bytes, response_deserializer=bytes)
        try:
            ask(b"", timeout=ANSWER_SECONDS, metadata=metadata)
        except grpc.RpcError as e:
            return "token" if e.code() == grpc.StatusCode.UNAUTHENTICATED else e.code().name.lower()
    return "ray"


def _token() -> str | None:
    """The token Ray sends when RAY_AUTH_MODE=token: RAY_AUTH_TOKEN, the file at
    RAY_AUTH_TOKEN_PATH, or ~/.ray/auth_token."""
    if os.environ.get("RAY_AUTH_MODE", "").lower() != "token":
        return None
    if os.environ.get("RAY_AUTH_TOKEN"):
        return os.environ["RAY_AUTH_TOKEN"].strip()
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or os.path.expanduser("~/.ray/auth_token")
    try:
        with open(path) as f:
            return f.read().strip() or None
    except OSError:
        return None


def is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.is_loopback or bool(getattr(ip, "ipv4_mapped", None) and ip.ipv4_mapped.is_loopback)


def _network_address() -> str | None:
    """This machine's network address, found as Ray finds it (a UDP socket's own address; nothing is sent)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("8.8.8.8", 80))
            return s.getsockname()[0]
    except OSError:
        return None


@contextmanager
def loopback(on: bool = True):
    """Ray (the module) in loopback mode for the time of the block, when `on` (see the module):
    the node's address is 127.0.0.1, so that the servers Ray starts listen there only and a
    loopback --ray-address is not replaced by the machine's network address. The processes
    started inherit the switch; this process gets its settings back afterwards."""
    if not on:
        import ray

        yield ray
        return
    before, imported = os.environ.get(LOOPBACK_SWITCH), "ray" in sys.modules
    os.environ[LOOPBACK_SWITCH] = "0"
    import ray
    from ray._private import ray_constants

    constant = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield ray
    finally:
        if before is None:
            os.environ.pop(LOOPBACK_SWITCH, None)
        else:
            os.environ[LOOPBACK_SWITCH] = before
        ray_constants.ENABLE_RAY_CLUSTER = (
            constant if imported else ray_constants.env_bool(LOOPBACK_SWITCH, not ray_constants.IS_WINDOWS_OR_OSX))
