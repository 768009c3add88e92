"""Nova's own metadata service and config drive for instances (JSON on stdin).

Payload: ``options`` (``dhcp_domain``, ``vendordata`` or null: Nova's configuration,
shared by all) and ``servers``, a list of: ``instance`` (the fields Nova reads, see
tests/consumers/nova_metadata.py), ``network_info``, ``devices`` (NIC device metadata
as Nova's libvirt driver records it), ``address`` (the caller),
``requests`` ([method, path] pairs), ``crawl`` (walk every listing from ``/`` and
``/openstack/``) and ``drive`` (also yield ``metadata_for_config_drive``).

Nova's ``MetadataRequestHandler`` answers each request through webob, exactly as its WSGI
app does; only the two places that would reach a database or Neutron are replaced: the
lookup of the caller (it returns this instance's ``InstanceMetadata``) and the security
groups of the instance (the names given). Block device mappings are empty: what Nova
lists under ``block-device-mapping`` then comes from the instance's root, ephemeral and
swap device names, which is what an image-booted libvirt guest has.

Prints, per server, ``{"http": [{method, path, status, content_type, body}], "drive":
{path: body}}`` with bodies in base64.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import tempfile
from typing import Any
from unittest import mock

import nova.conf
import webob
from nova import objects
from nova.api.metadata import base, handler
from nova.network import model as network_model
from nova.network import security_group_api
from oslo_log import log as logging

CONF = nova.conf.CONF


def configure(options: dict[str, Any], tmp: str) -> None:
    logging.register_options(CONF)
    CONF([], project="nova", default_config_files=[])
    if "dhcp_domain" in options:
        CONF.set_override("dhcp_domain", options["dhcp_domain"], group="api")
    vendordata = options.get("vendordata")
    if vendordata is not None:
        path = os.path.join(tmp, "vendor_data.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(vendordata, f)
        CONF.set_override("vendordata_jsonfile_path", path, group="api")
    CONF.set_override("metadata_cache_expiration", 0, group="api")


def keypairs(data: dict[str, Any]) -> objects.KeyPairList:
    pair = data.get("keypair")
    if pair is None:
        return objects.KeyPairList(objects=[])
    return objects.KeyPairList(
        objects=[
            objects.KeyPair(
                name=pair["name"],
                public_key=pair["public_key"],
                type=pair["type"],
                user_id=data.get("user_id"),
            )
        ]
    )


def device_metadata(devices: list[dict[str, Any]]) -> objects.InstanceDeviceMetadata | None:
    """What Nova's libvirt driver (``_build_interface_metadata``) records per exposed NIC."""
    built = []
    for dev in devices:
        nic = objects.NetworkInterfaceMetadata(mac=dev["mac"])
        if dev.get("tags"):
            nic.tags = dev["tags"]
        if dev.get("address"):
            nic.bus = objects.PCIDeviceBus(address=dev["address"])
        if dev.get("vlan"):
            nic.vlan = int(dev["vlan"])
        nic.vf_trusted = bool(dev.get("vf_trusted", False))
        built.append(nic)
    return objects.InstanceDeviceMetadata(devices=built) if built else None


def instance(data: dict[str, Any], devices: list[dict[str, Any]]) -> objects.Instance:
    flavor = data["flavor"]
    inst = objects.Instance(
        id=data["id"],
        uuid=data["uuid"],
        hostname=data["hostname"],
        display_name=data["display_name"],
        launch_index=data["launch_index"],
        availability_zone=data["availability_zone"],
        project_id=data["project_id"],
        user_id=data["user_id"],
        key_name=data["key_name"],
        key_data=data["key_data"],
        metadata=data["metadata"],
        system_metadata=data.get("system_metadata", {}),
        user_data=data["user_data"],
        reservation_id=data["reservation_id"],
        root_device_name=data["root_device_name"],
        default_ephemeral_device=data.get("default_ephemeral_device"),
        default_swap_device=data.get("default_swap_device"),
        flavor=objects.Flavor(
            name=flavor["name"],
            flavorid=flavor["id"],
            vcpus=flavor["vcpus"],
            memory_mb=flavor["ram"],
            root_gb=flavor["disk"],
            ephemeral_gb=flavor["ephemeral"],
            swap=flavor["swap"],
            extra_specs=flavor.get("extra_specs", {}),
        ),
        ec2_ids=objects.EC2Ids(
            instance_id=data["ec2_ids"]["instance_id"],
            ami_id=data["ec2_ids"]["ami_id"],
            kernel_id=None,
            ramdisk_id=None,
        ),
        keypairs=keypairs(data),
        device_metadata=device_metadata(devices),
        numa_topology=None,
    )
    return inst


def crawl(app: handler.MetadataRequestHandler, address: str) -> list[list[str]]:
    """Every path reachable from Nova's own listings of ``/`` and ``/openstack/``."""
    todo = ["/", "/openstack/"]
    seen: list[str] = []
    while todo:
        path = todo.pop(0)
        if path in seen:
            continue
        seen.append(path)
        if not path.endswith("/"):
            continue
        response = request(app, "GET", path, address)
        if response.status_int != 200:
            continue
        top = path in ("/", "/openstack/")
        for entry in response.body.decode().split("\n"):
            if not entry:
                continue
            if "=" in entry and not entry.endswith("/"):  # EC2's "0=keyname"
                entry = entry.split("=", 1)[0] + "/"
            elif top and not entry.endswith("/"):
                entry += "/"  # versions are directories, listed without a slash
            todo.append(path + entry)
    return [["GET", p] for p in seen]


def request(
    app: handler.MetadataRequestHandler, method: str, path: str, address: str
) -> webob.Response:
    req = webob.Request.blank(path, method=method, remote_addr=address)
    return req.get_response(app)


def answer(server: dict[str, Any]) -> dict[str, Any]:
    inst = instance(server["instance"], server.get("devices", []))
    info = network_model.NetworkInfo.hydrate(server["network_info"])
    groups = [{"name": n} for n in server["instance"]["security_groups"]]
    address = server.get("address") or "192.0.2.1"
    out: dict[str, Any] = {"http": [], "drive": {}}
    with (
        mock.patch.object(objects.Instance, "get_bdms", return_value=[]),
        mock.patch.object(security_group_api, "get_instance_security_groups", return_value=groups),
    ):
        meta = base.InstanceMetadata(inst, address=address, network_info=info)
    app = handler.MetadataRequestHandler()
    with mock.patch.object(
        handler.MetadataRequestHandler, "get_metadata_by_remote_address", return_value=meta
    ):
        requests = [list(r) for r in server.get("requests", [])]
        if server.get("crawl"):
            requests += crawl(app, address)
        for method, path in requests:
            response = request(app, method, path, address)
            out["http"].append(
                {
                    "method": method,
                    "path": path,
                    "status": response.status_int,
                    "content_type": response.headers.get("Content-Type"),
                    "body": base64.b64encode(response.body).decode(),
                }
            )
    if server.get("drive"):
        for path, value in meta.metadata_for_config_drive():
            body = value if isinstance(value, bytes) else str(value).encode()
            out["drive"][path] = base64.b64encode(body).decode()
    return out


def main() -> None:
    payload = json.load(sys.stdin)
    with tempfile.TemporaryDirectory() as tmp:
        configure(payload.get("options", {}), tmp)
        objects.register_all()
        json.dump([answer(server) for server in payload["servers"]], sys.stdout)


if __name__ == "__main__":
    main()
