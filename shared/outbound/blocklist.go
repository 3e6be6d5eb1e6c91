package outbound

import (
	"errors"
	"fmt"
	"net/netip"
)

// ErrBlockedAddress is wrapped by every error this package returns because a
// destination IP is refused: by CheckIP, by CheckURL, and by the dialer of a
// client from NewClient (there it sits inside *url.Error -> *net.OpError).
// Callers classify with errors.Is: a blocked destination is a permanent,
// customer-side configuration error, not a transient failure worth retrying.
var ErrBlockedAddress = errors.New("blocked destination address")

// blockRule is one row of the blocklist. A row with an embedded extractor is
// not blocked by itself: the address is judged by the IPv4 address it
// carries, because that is where the packets end up.
type blockRule struct {
	prefix   netip.Prefix
	why      string
	embedded func(netip.Addr) netip.Addr
}

// blocklist is the single table of refused destinations. It is scanned in
// order and the first matching row wins, so more specific rows (cloud
// metadata endpoints) come before the ranges that contain them; that only
// changes the name reported in the error, never the verdict.
//
// The parsed literals are constants: a typo would fail at package init in
// every test run, never at request time.
var blocklist = []blockRule{
	// ---- IPv4 ----
	// "This network" (RFC 1122). Connecting to 0.0.0.0 reaches the local host
	// on Linux and macOS, so it is a loopback bypass and is refused even with
	// AllowLoopback.
	{prefix: netip.MustParsePrefix("0.0.0.0/8"), why: "unspecified / this network (RFC 1122)"},
	// RFC 1918 private network.
	{prefix: netip.MustParsePrefix("10.0.0.0/8"), why: "private network (RFC 1918)"},
	// Alibaba Cloud instance metadata; sits inside the CGNAT range below.
	{prefix: netip.MustParsePrefix("100.100.100.200/32"), why: "cloud metadata endpoint (Alibaba Cloud)"},
	// Carrier-grade NAT shared space (RFC 6598); also used for internal
	// service addresses by some clouds and by Tailscale.
	{prefix: netip.MustParsePrefix("100.64.0.0/10"), why: "carrier-grade NAT shared space (RFC 6598)"},
	// Loopback (RFC 1122). Only range AllowLoopback re-opens.
	{prefix: netip.MustParsePrefix("127.0.0.0/8"), why: "loopback (RFC 1122)"},
	// Instance metadata of AWS, GCP, Azure, OpenStack, Oracle, DigitalOcean:
	// the classic SSRF target that hands out IAM credentials.
	{prefix: netip.MustParsePrefix("169.254.169.254/32"), why: "cloud metadata endpoint (AWS/GCP/Azure/OpenStack)"},
	// AWS ECS/EKS Pod Identity credential endpoints; inside link-local.
	{prefix: netip.MustParsePrefix("169.254.170.0/24"), why: "cloud container credentials endpoint (AWS ECS/EKS)"},
	// Link-local (RFC 3927).
	{prefix: netip.MustParsePrefix("169.254.0.0/16"), why: "link-local (RFC 3927)"},
	// RFC 1918 private network.
	{prefix: netip.MustParsePrefix("172.16.0.0/12"), why: "private network (RFC 1918)"},
	// IETF protocol assignments (RFC 6890): DS-Lite, NAT64 discovery, ...
	{prefix: netip.MustParsePrefix("192.0.0.0/24"), why: "IETF protocol assignments (RFC 6890)"},
	// TEST-NET-1 documentation (RFC 5737).
	{prefix: netip.MustParsePrefix("192.0.2.0/24"), why: "documentation TEST-NET-1 (RFC 5737)"},
	// Deprecated 6to4 relay anycast (RFC 7526).
	{prefix: netip.MustParsePrefix("192.88.99.0/24"), why: "6to4 relay anycast (RFC 7526)"},
	// RFC 1918 private network.
	{prefix: netip.MustParsePrefix("192.168.0.0/16"), why: "private network (RFC 1918)"},
	// Network device benchmarking (RFC 2544); used as internal space in
	// practice.
	{prefix: netip.MustParsePrefix("198.18.0.0/15"), why: "benchmarking (RFC 2544)"},
	// TEST-NET-2 documentation (RFC 5737).
	{prefix: netip.MustParsePrefix("198.51.100.0/24"), why: "documentation TEST-NET-2 (RFC 5737)"},
	// TEST-NET-3 documentation (RFC 5737).
	{prefix: netip.MustParsePrefix("203.0.113.0/24"), why: "documentation TEST-NET-3 (RFC 5737)"},
	// Multicast (RFC 5771); HTTP cannot run over it anyway.
	{prefix: netip.MustParsePrefix("224.0.0.0/4"), why: "multicast (RFC 5771)"},
	// Limited broadcast (RFC 919); listed before 240/4 for a precise name.
	{prefix: netip.MustParsePrefix("255.255.255.255/32"), why: "limited broadcast (RFC 919)"},
	// Reserved former class E (RFC 1112).
	{prefix: netip.MustParsePrefix("240.0.0.0/4"), why: "reserved (RFC 1112)"},

	// ---- IPv6 ----
	// Unspecified. Like 0.0.0.0, connecting to :: reaches the local host.
	{prefix: netip.MustParsePrefix("::/128"), why: "unspecified (RFC 4291)"},
	// Loopback. Only address AllowLoopback re-opens besides 127/8.
	{prefix: netip.MustParsePrefix("::1/128"), why: "loopback (RFC 4291)"},
	// Deprecated IPv4-compatible addresses ::a.b.c.d (RFC 4291 §2.5.5.1).
	// IPv4-mapped ::ffff:a.b.c.d never gets here: it is unmapped first.
	{prefix: netip.MustParsePrefix("::/96"), why: "IPv4-compatible, deprecated (RFC 4291)"},
	// IPv4-translated addresses used by SIIT (RFC 2765).
	{prefix: netip.MustParsePrefix("::ffff:0:0:0/96"), why: "IPv4-translated (RFC 2765)"},
	// Well-known NAT64 prefix (RFC 6052): the gateway forwards to the IPv4
	// address in the low 32 bits, so judge that address.
	{prefix: netip.MustParsePrefix("64:ff9b::/96"), why: "NAT64 (RFC 6052)", embedded: low32},
	// Local-use NAT64 (RFC 8215): operator-defined embedding, so it cannot
	// be judged; it only exists inside private networks anyway.
	{prefix: netip.MustParsePrefix("64:ff9b:1::/48"), why: "local-use NAT64 (RFC 8215)"},
	// Discard-only (RFC 6666).
	{prefix: netip.MustParsePrefix("100::/64"), why: "discard-only (RFC 6666)"},
	// Teredo (RFC 4380): the embedded client IPv4 is XOR-obfuscated and the
	// traffic goes through relays, so refuse rather than guess.
	{prefix: netip.MustParsePrefix("2001::/32"), why: "Teredo (RFC 4380)"},
	// Benchmarking (RFC 5180).
	{prefix: netip.MustParsePrefix("2001:2::/48"), why: "benchmarking (RFC 5180)"},
	// Documentation (RFC 3849).
	{prefix: netip.MustParsePrefix("2001:db8::/32"), why: "documentation (RFC 3849)"},
	// 6to4 (RFC 3056): 2002:AABB:CCDD::/48 tunnels to IPv4 AA.BB.CC.DD, so
	// judge that address.
	{prefix: netip.MustParsePrefix("2002::/16"), why: "6to4 (RFC 3056)", embedded: sixToFour},
	// Documentation (RFC 9637).
	{prefix: netip.MustParsePrefix("3fff::/20"), why: "documentation (RFC 9637)"},
	// AWS instance metadata over IPv6 (Nitro); inside unique-local below.
	{prefix: netip.MustParsePrefix("fd00:ec2::254/128"), why: "cloud metadata endpoint (AWS IPv6)"},
	// Unique-local addresses, the IPv6 private ranges (RFC 4193).
	{prefix: netip.MustParsePrefix("fc00::/7"), why: "unique-local / private (RFC 4193)"},
	// Link-local (RFC 4291).
	{prefix: netip.MustParsePrefix("fe80::/10"), why: "link-local (RFC 4291)"},
	// Deprecated site-local (RFC 3879); still routed internally by old gear.
	{prefix: netip.MustParsePrefix("fec0::/10"), why: "site-local, deprecated (RFC 3879)"},
	// Multicast (RFC 4291).
	{prefix: netip.MustParsePrefix("ff00::/8"), why: "multicast (RFC 4291)"},
}

var loopbackV4 = netip.MustParsePrefix("127.0.0.0/8")

// low32 returns the IPv4 address in the last 4 bytes (NAT64 /96 embedding).
func low32(ip netip.Addr) netip.Addr {
	b := ip.As16()
	return netip.AddrFrom4([4]byte(b[12:16]))
}

// sixToFour returns the IPv4 address in bytes 2..5 of a 2002::/16 address.
func sixToFour(ip netip.Addr) netip.Addr {
	b := ip.As16()
	return netip.AddrFrom4([4]byte(b[2:6]))
}

// CheckIP reports whether ip may be dialled: nil if it may, otherwise an
// error wrapping ErrBlockedAddress that names the address and the range it
// fell in. IPv4-mapped IPv6 (::ffff:a.b.c.d) is judged as the IPv4 address
// it carries, and so are NAT64 (64:ff9b::/96) and 6to4 (2002::/16)
// addresses. IPv6 zones are ignored.
//
// allowLoopback re-opens exactly 127.0.0.0/8 and ::1 — nothing else, and not
// loopback reached through NAT64 or 6to4 (that would be the gateway's
// loopback, not ours).
func CheckIP(ip netip.Addr, allowLoopback bool) error {
	if !ip.IsValid() {
		return fmt.Errorf("%w: invalid IP address", ErrBlockedAddress)
	}
	why, blocked := classify(ip, allowLoopback)
	if !blocked {
		return nil
	}
	return fmt.Errorf("%w %s (%s)", ErrBlockedAddress, ip, why)
}

// classify returns a description of the matching block rule and true when ip
// is refused.
func classify(ip netip.Addr, allowLoopback bool) (string, bool) {
	// Prefix.Contains is false for any address that has a zone and an IPv4
	// prefix never contains a 4in6 address, so both must be normalised or
	// fe80::1%eth0 and ::ffff:10.0.0.1 would slip through.
	ip = ip.WithZone("").Unmap()
	if allowLoopback && (loopbackV4.Contains(ip) || ip == netip.IPv6Loopback()) {
		return "", false
	}
	for _, r := range blocklist {
		if !r.prefix.Contains(ip) {
			continue
		}
		if r.embedded == nil {
			return fmt.Sprintf("in %s: %s", r.prefix, r.why), true
		}
		v4 := r.embedded(ip)
		inner, blocked := classify(v4, false)
		if !blocked {
			return "", false
		}
		return fmt.Sprintf("in %s: %s embedding IPv4 %s, which is %s", r.prefix, r.why, v4, inner), true
	}
	return "", false
}
