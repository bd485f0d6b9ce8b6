"""Which addresses the SFU may send ICE checks to: the networks a client's candidates may name.

Why: every remote candidate makes the server send STUN binding requests, from
inside our network, to the address the candidate names. Unfiltered, any
client could aim them at the server's own loopback services, at link-local
hosts, or at the cloud metadata service (169.254.169.254). So each trickled
candidate and each ``a=candidate`` line of an answer is checked before aiortc
sees it, and one naming an address outside the allowed networks is dropped.

Host names (browsers' mDNS ``*.local`` candidates) are dropped too: resolving
them would send multicast queries into the server's LAN, and the server never
needs them. The server's own candidates are in every offer, so a client that
can reach the server sends checks to it, and the server learns the client's
real address from them (a peer-reflexive candidate).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Never a destination for checks, whatever the setting says: "this network", multicast, and the metadata
# services of the common clouds (AWS, GCP, Azure, OpenStack and Oracle on 169.254.169.254; AWS over IPv6;
# Alibaba; Azure's wire server).
NEVER: tuple[Network, ...] = tuple(
    ipaddress.ip_network(n)
    for n in ("0.0.0.0/8", "224.0.0.0/4", "255.255.255.255/32", "::/128", "ff00::/8", "169.254.169.254/32",
              "fd00:ec2::254/128", "100.100.100.200/32", "168.63.129.16/32")
)
LOOPBACK: tuple[Network, ...] = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


@dataclass(frozen=True, slots=True)
class CandidateFilter:
    """The networks remote candidates may name.

    `networks` None is the default policy: any unicast address except loopback (unless `allow_loopback`),
    link-local and reserved ones. A tuple allows exactly those networks. `NEVER` is refused either way.
    """

    networks: tuple[Network, ...] | None = None
    allow_loopback: bool = False

    def allows(self, host: str) -> bool:
        """May the server send checks to `host` (an address; a host name never may)?"""
        try:
            address: Address = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in n for n in NEVER):
            return False
        if self.networks is not None:
            return any(address in n for n in self.networks)
        if address.is_loopback:
            return self.allow_loopback
        return not (address.is_link_local or address.is_reserved or address.is_unspecified or address.is_multicast)

    def allows_candidate(self, text: str) -> bool:
        """Is the candidate in `text` (``candidate:...`` or the attribute value) aimed at an allowed address?

        Its fields are: foundation, component, transport, priority, address, port, ``typ``, type, ...
        Anything that does not have them is not for us to judge: aiortc refuses it.
        """
        fields = text.removeprefix("a=").removeprefix("candidate:").split()
        return len(fields) < 5 or self.allows(fields[4])

    def answer(self, sdp: str) -> tuple[str, int]:
        """`sdp` without its ``a=candidate`` lines naming addresses not allowed; and how many were dropped."""
        kept: list[str] = []
        dropped = 0
        for line in sdp.splitlines(keepends=True):
            if line.startswith("a=candidate:") and not self.allows_candidate(line.strip()):
                dropped += 1
            else:
                kept.append(line)
        return "".join(kept), dropped


ANY = CandidateFilter(networks=(ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")))
"""Every unicast address (in-process tools on one machine; the server always passes its own filter)."""


def networks(raw: str) -> tuple[Network, ...] | None:
    """The `KLEAR_RTC_CANDIDATE_NETWORKS` value: ``auto`` (None), or comma-separated CIDRs."""
    if raw.strip().lower() == "auto":
        return None
    try:
        parsed = tuple(ipaddress.ip_network(part.strip(), strict=False) for part in raw.split(","))
    except ValueError:
        raise ValueError("must be auto or comma-separated networks such as 10.0.0.0/8,2001:db8::/32") from None
    return parsed
