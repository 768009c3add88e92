"""Domain XML files written the way libvirtd writes them, for tests that read files.

libvirtd starts every file with a warning comment; a live state file wraps the domain in
``<domstatus>`` after the QEMU capabilities, which make up most of its size. The readers
take shortcuts based on that layout, so the tests feed them the same layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

NS_1_1 = "http://openstack.org/xmlns/libvirt/nova/1.1"
NS_1_0 = "http://openstack.org/xmlns/libvirt/nova/1.0"


def _header(name: str) -> str:
    return f"""<!--
WARNING: THIS IS AN AUTO-GENERATED FILE. CHANGES TO IT ARE LIKELY TO BE
OVERWRITTEN AND LOST. Changes to this xml configuration should be made using:
  virsh edit {name}
or other application using the libvirt API.
-->

"""


def domain_body(name: str, uuid: str, metadata: str, *, live_id: int | None = None) -> str:
    """A ``<domain>`` element in libvirt's child order: name, uuid, metadata, the rest."""
    id_attr = f" id='{live_id}'" if live_id is not None else ""
    meta = f"  <metadata>\n{metadata}\n  </metadata>\n" if metadata else ""
    return f"""<domain type='qemu'{id_attr}>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
{meta}  <memory unit='KiB'>32768</memory>
  <currentMemory unit='KiB'>32768</currentMemory>
  <vcpu placement='static'>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type>
    <boot dev='hd'/>
  </os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <interface type='user'>
      <mac address='52:54:00:12:34:56'/>
      <model type='virtio'/>
    </interface>
  </devices>
</domain>
"""


def persistent(name: str, uuid: str, metadata: str = "") -> str:
    """What /etc/libvirt/qemu/NAME.xml holds."""
    return _header(name) + domain_body(name, uuid, metadata)


def live(name: str, uuid: str, metadata: str = "", state: str = "running") -> str:
    """What /run/libvirt/qemu/NAME.xml holds while the domain runs (or is paused)."""
    flags = "\n".join(f"    <flag name='cap-{i}'/>" for i in range(300))
    body = domain_body(name, uuid, metadata, live_id=7).replace("\n", "\n  ").rstrip() + "\n"
    return (
        _header(name)
        + f"""<domstatus state='{state}' reason='booted' pid='4242'>
  <taint flag='high-privileges'/>
  <monitor path='/var/lib/libvirt/qemu/domain-7-{name}/monitor.sock' type='unix'/>
  <namespaces>
    <mount/>
  </namespaces>
  <vcpus>
    <vcpu id='0' pid='4250'/>
  </vcpus>
  <qemuCaps>
{flags}
  </qemuCaps>
  <devices>
    <device alias='net0'/>
  </devices>
  <libDir path='/var/lib/libvirt/qemu/domain-7-{name}'/>
  <channelTargetDir path='/var/lib/libvirt/qemu/channel/target/domain-7-{name}'/>
  <cpu mode='custom' match='exact' check='full'/>
  <allowReboot value='yes'/>
  <nodename index='0'/>
  <fdset index='0'/>
  <blockjobs active='no'/>
  <agentTimeout>-2</agentTimeout>
  {body}</domstatus>
"""
    )


def element(
    *,
    name: str | None = "web-1",
    project: str | None = "6f0c3e1b-52a4-4c6e-9d1e-3b7a2c9f8e01",
    ports: Sequence[tuple[str, Sequence[tuple[str, str, str | None]]]] = (),
    namespace: str = NS_1_1,
) -> str:
    """A hand-written ``nova:instance`` element: ports as (uuid, [(type, address, version)])."""
    parts = [f'<nova:instance xmlns:nova="{namespace}">']
    if name is not None:
        parts.append(f"<nova:name>{name}</nova:name>")
    if project is not None:
        parts.append(f'<nova:owner><nova:project uuid="{project}">demo</nova:project></nova:owner>')
    parts.append("<nova:ports>")
    for port_uuid, ips in ports:
        parts.append(f'<nova:port uuid="{port_uuid}">')
        for kind, address, version in ips:
            version_attr = f' ipVersion="{version}"' if version is not None else ""
            parts.append(f'<nova:ip type="{kind}" address="{address}"{version_attr}/>')
        parts.append("</nova:port>")
    parts.append("</nova:ports></nova:instance>")
    return "".join(parts)


def write(directory: Path, filename: str, text: str | bytes) -> Path:
    path = directory / filename
    if isinstance(text, str):
        path.write_text(text)
    else:
        path.write_bytes(text)
    return path
