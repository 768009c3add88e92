"""Building networks and subnets from their drafts."""

from __future__ import annotations

from guestmeta.apply.context import Context
from guestmeta.model import AllocationPool, HostRoute, Network, Subnet
from guestmeta.model.addressing import parse_cidr, parse_ip


def default_gateway(cidr: str) -> str | None:
    """The first address of the CIDR, as Neutron gives a subnet created without gateway_ip."""
    try:
        network = parse_cidr(cidr)
    except ValueError:
        return None  # the subnet reports its cidr
    if network.num_addresses < 2:
        return None
    return str(network.network_address + 1)


class NetworkSteps(Context):
    def build_networks(self) -> None:
        self.new.networks = dict(self.retained("networks"))
        for d in self.drafts["networks"]:
            f = d.f
            net = self.build(
                d,
                Network,
                id=d.id,
                name=f.text("name") or "",
                mtu=f.integer("mtu"),
                network_type=f.text("provider:network_type"),
                physical_network=f.text("provider:physical_network"),
                segmentation_id=f.integer("provider:segmentation_id"),
                external=bool(f.boolean("router:external")),
                shared=bool(f.boolean("shared")),
                project_id=f.text("project_id", "tenant_id"),
            )
            if net is not None:
                self.new.networks[d.id] = net

    def build_subnets(self) -> None:
        self.new.subnets = dict(self.retained("subnets"))
        for d in self.drafts["subnets"]:
            f = d.f
            cidr = f.text("cidr", nullable=False)
            if cidr is None and not f.has("cidr"):
                f.error("cidr", "is required")
            version = f.integer("ip_version")
            if version is None and cidr:
                try:
                    version = parse_ip(cidr.split("/")[0]).version
                except ValueError:
                    version = 4
            routes = []
            for i, r in enumerate(f.items("host_routes") or []):
                sub = f.sub(f"host_routes[{i}]", r)
                if sub is not None:
                    routes.append(
                        HostRoute(sub.text("destination") or "", sub.text("nexthop") or "")
                    )
            pools = []
            for i, p in enumerate(f.items("allocation_pools") or []):
                sub = f.sub(f"allocation_pools[{i}]", p)
                if sub is not None:
                    pools.append(AllocationPool(sub.text("start") or "", sub.text("end") or ""))
            dns = self.strings(f, "dns_nameservers")
            gateway = f.text("gateway_ip")
            if not f.has("gateway_ip") and cidr:
                gateway = default_gateway(cidr)  # Neutron's default; null means none
            enable_dhcp = f.boolean("enable_dhcp")
            subnet = self.build(
                d,
                Subnet,
                id=d.id,
                network_id=self.ref(f, "networks", "network_id", required=True) or "",
                cidr=cidr or "",
                ip_version=version or 4,
                name=f.text("name") or "",
                gateway_ip=gateway or None,
                enable_dhcp=True if enable_dhcp is None else enable_dhcp,
                ipv6_address_mode=f.text("ipv6_address_mode"),
                ipv6_ra_mode=f.text("ipv6_ra_mode"),
                dns_nameservers=tuple(dns),
                host_routes=tuple(routes),
                allocation_pools=tuple(pools),
                project_id=f.text("project_id", "tenant_id"),
            )
            if subnet is not None:
                self.new.subnets[d.id] = subnet
