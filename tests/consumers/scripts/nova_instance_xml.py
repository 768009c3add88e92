"""The <nova:instance> element that Nova's libvirt driver writes, from plain values (stdin).

It fills Nova's own config classes the way ``LibvirtDriver._get_guest_config_meta`` does
and serializes them with ``to_xml()``, the string Nova hands to libvirt's setMetadata.
Input: {"name", "creation_time" (epoch seconds), "package", "flavor": {name, id, memory,
disk, swap, ephemeral, vcpus, extra_specs?}, "image": {uuid, container_format?,
disk_format?, min_disk?, min_ram?, properties?} | null, "owner": {user_uuid, user_name,
project_uuid, project_name}, "root": {type, uuid}, "ports": [{uuid, ips: [{type, address,
ip_version}]}]}. Output: {"xml": "..."}.
"""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace
from typing import Any

from nova.virt.libvirt import config as vconfig


def image_meta(image: dict[str, Any]) -> SimpleNamespace:
    """The attributes of Nova's ImageMeta that LibvirtConfigGuestMetaImage reads."""
    return SimpleNamespace(
        container_format=image.get("container_format"),
        disk_format=image.get("disk_format"),
        min_disk=image.get("min_disk"),
        min_ram=image.get("min_ram"),
        properties=image.get("properties", {}),
    )


def build(values: dict[str, Any]) -> vconfig.LibvirtConfigGuestMetaNovaInstance:
    meta = vconfig.LibvirtConfigGuestMetaNovaInstance()
    meta.package = values["package"]
    meta.name = values["name"]
    meta.creationTime = values["creation_time"]
    meta.roottype = values["root"]["type"]
    meta.rootid = values["root"]["uuid"]

    image = values.get("image")
    imeta = vconfig.LibvirtConfigGuestMetaImage()
    # As in Nova: the image element names the root, whatever the image says.
    imeta.uuid = meta.rootid
    imeta.image_meta = image_meta(image) if image is not None else None
    meta.image = imeta

    owner = values["owner"]
    ometa = vconfig.LibvirtConfigGuestMetaNovaOwner()
    ometa.userid = owner["user_uuid"]
    ometa.username = owner["user_name"]
    ometa.projectid = owner["project_uuid"]
    ometa.projectname = owner["project_name"]
    meta.owner = ometa

    flavor = values["flavor"]
    fmeta = vconfig.LibvirtConfigGuestMetaNovaFlavor()
    fmeta.name = flavor["name"]
    fmeta.id = flavor["id"]
    fmeta.memory = flavor["memory"]
    fmeta.vcpus = flavor["vcpus"]
    fmeta.ephemeral = flavor["ephemeral"]
    fmeta.disk = flavor["disk"]
    fmeta.swap = flavor["swap"]
    fmeta.extra_specs = flavor.get("extra_specs", {})
    meta.flavor = fmeta

    ports = []
    for port in values["ports"]:
        ips = [
            vconfig.LibvirtConfigGuestMetaNovaIp(ip["type"], ip["address"], ip["ip_version"])
            for ip in port["ips"]
        ]
        ports.append(vconfig.LibvirtConfigGuestMetaNovaPort(port["uuid"], ips=ips))
    meta.ports = vconfig.LibvirtConfigGuestMetaNovaPorts(ports)
    return meta


def main() -> None:
    json.dump({"xml": build(json.load(sys.stdin)).to_xml()}, sys.stdout)


if __name__ == "__main__":
    main()
