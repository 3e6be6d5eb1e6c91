package outbound

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestCheckIP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ip            string
		allowLoopback bool
		blocked       bool
		inRange       string // substring expected in the error when blocked
	}{
		// Public addresses are allowed.
		{ip: "8.8.8.8"},
		{ip: "1.1.1.1"},
		{ip: "93.184.216.34"},
		{ip: "2606:4700::1111"},
		{ip: "2a00:1450:4001:81c::200e"},
		{ip: "::ffff:8.8.8.8"},               // mapped public v4
		{ip: "64:ff9b::808:808"},             // NAT64 of 8.8.8.8
		{ip: "2002:808:808::1"},              // 6to4 of 8.8.8.8
		{ip: "100.63.255.255"},               // just below CGNAT
		{ip: "100.128.0.0"},                  // just above CGNAT
		{ip: "172.15.255.255"},               // just below 172.16/12
		{ip: "172.32.0.0"},                   // just above 172.16/12
		{ip: "8.8.8.8", allowLoopback: true}, // allowLoopback does not block public

		// IPv4 special ranges.
		{ip: "0.0.0.0", blocked: true, inRange: "0.0.0.0/8"},
		{ip: "0.1.2.3", blocked: true, inRange: "0.0.0.0/8"},
		{ip: "10.0.0.1", blocked: true, inRange: "10.0.0.0/8"},
		{ip: "100.64.0.1", blocked: true, inRange: "100.64.0.0/10"},
		{ip: "100.100.100.200", blocked: true, inRange: "Alibaba"},
		{ip: "127.0.0.1", blocked: true, inRange: "127.0.0.0/8"},
		{ip: "127.255.255.254", blocked: true, inRange: "127.0.0.0/8"},
		{ip: "169.254.169.254", blocked: true, inRange: "metadata"},
		{ip: "169.254.170.2", blocked: true, inRange: "ECS"},
		{ip: "169.254.1.1", blocked: true, inRange: "169.254.0.0/16"},
		{ip: "172.16.0.1", blocked: true, inRange: "172.16.0.0/12"},
		{ip: "172.31.255.255", blocked: true, inRange: "172.16.0.0/12"},
		{ip: "192.0.0.1", blocked: true, inRange: "192.0.0.0/24"},
		{ip: "192.0.2.1", blocked: true, inRange: "192.0.2.0/24"},
		{ip: "192.168.1.1", blocked: true, inRange: "192.168.0.0/16"},
		{ip: "198.18.0.1", blocked: true, inRange: "198.18.0.0/15"},
		{ip: "198.19.255.255", blocked: true, inRange: "198.18.0.0/15"},
		{ip: "198.51.100.7", blocked: true, inRange: "198.51.100.0/24"},
		{ip: "203.0.113.7", blocked: true, inRange: "203.0.113.0/24"},
		{ip: "224.0.0.1", blocked: true, inRange: "224.0.0.0/4"},
		{ip: "239.255.255.250", blocked: true, inRange: "224.0.0.0/4"},
		{ip: "240.0.0.1", blocked: true, inRange: "240.0.0.0/4"},
		{ip: "255.255.255.255", blocked: true, inRange: "broadcast"},

		// IPv6 special ranges.
		{ip: "::", blocked: true, inRange: "::/128"},
		{ip: "::1", blocked: true, inRange: "::1/128"},
		{ip: "::7f00:1", blocked: true, inRange: "IPv4-compatible"},
		{ip: "fe80::1", blocked: true, inRange: "fe80::/10"},
		{ip: "fe80::1%eth0", blocked: true, inRange: "fe80::/10"}, // zones must not defeat Contains
		{ip: "fc00::1", blocked: true, inRange: "fc00::/7"},
		{ip: "fd12:3456::1", blocked: true, inRange: "fc00::/7"},
		{ip: "fd00:ec2::254", blocked: true, inRange: "AWS IPv6"},
		{ip: "fec0::1", blocked: true, inRange: "site-local"},
		{ip: "ff02::1", blocked: true, inRange: "ff00::/8"},
		{ip: "2001:db8::1", blocked: true, inRange: "2001:db8::/32"},
		{ip: "3fff::1", blocked: true, inRange: "3fff::/20"},
		{ip: "2001:0:4136:e378:8000:63bf:3fff:fdd2", blocked: true, inRange: "Teredo"},
		{ip: "100::1", blocked: true, inRange: "discard"},
		{ip: "64:ff9b:1::a00:1", blocked: true, inRange: "local-use NAT64"},

		// IPv4-mapped IPv6 is judged as IPv4.
		{ip: "::ffff:127.0.0.1", blocked: true, inRange: "127.0.0.0/8"},
		{ip: "::ffff:169.254.169.254", blocked: true, inRange: "metadata"},
		{ip: "::ffff:10.1.2.3", blocked: true, inRange: "10.0.0.0/8"},
		{ip: "::ffff:0.0.0.0", blocked: true, inRange: "0.0.0.0/8"},
		{ip: "::ffff:127.0.0.1", allowLoopback: true}, // same socket as 127.0.0.1

		// NAT64 and 6to4 are judged by the embedded IPv4.
		{ip: "64:ff9b::a9fe:a9fe", blocked: true, inRange: "embedding IPv4 169.254.169.254"},
		{ip: "64:ff9b::a00:1", blocked: true, inRange: "embedding IPv4 10.0.0.1"},
		{ip: "2002:a00:1::1", blocked: true, inRange: "embedding IPv4 10.0.0.1"},
		{ip: "2002:7f00:1::", blocked: true, inRange: "embedding IPv4 127.0.0.1"},
		// ... and loopback through a gateway is the gateway's loopback, so
		// AllowLoopback does not re-open it.
		{ip: "64:ff9b::7f00:1", allowLoopback: true, blocked: true, inRange: "embedding IPv4 127.0.0.1"},
		{ip: "2002:7f00:1::", allowLoopback: true, blocked: true, inRange: "embedding IPv4 127.0.0.1"},

		// AllowLoopback opens 127/8 and ::1 only.
		{ip: "127.0.0.1", allowLoopback: true},
		{ip: "127.1.2.3", allowLoopback: true},
		{ip: "::1", allowLoopback: true},
		{ip: "0.0.0.0", allowLoopback: true, blocked: true, inRange: "0.0.0.0/8"},
		{ip: "::", allowLoopback: true, blocked: true, inRange: "::/128"},
		{ip: "10.0.0.1", allowLoopback: true, blocked: true, inRange: "10.0.0.0/8"},
		{ip: "192.168.0.1", allowLoopback: true, blocked: true, inRange: "192.168.0.0/16"},
		{ip: "169.254.169.254", allowLoopback: true, blocked: true, inRange: "metadata"},
		{ip: "fd00:ec2::254", allowLoopback: true, blocked: true, inRange: "AWS IPv6"},
		{ip: "fe80::1", allowLoopback: true, blocked: true, inRange: "fe80::/10"},
		{ip: "::7f00:1", allowLoopback: true, blocked: true, inRange: "IPv4-compatible"},
	}
	for _, tt := range tests {
		name := tt.ip
		if tt.allowLoopback {
			name += "/allowLoopback"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ip, err := netip.ParseAddr(tt.ip)
			if err != nil {
				t.Fatalf("bad test address: %v", err)
			}
			err = CheckIP(ip, tt.allowLoopback)
			if !tt.blocked {
				if err != nil {
					t.Fatalf("CheckIP(%s) = %v, want allowed", tt.ip, err)
				}
				return
			}
			if !errors.Is(err, ErrBlockedAddress) {
				t.Fatalf("CheckIP(%s) = %v, want error wrapping ErrBlockedAddress", tt.ip, err)
			}
			if msg := err.Error(); !strings.Contains(msg, tt.inRange) || !strings.Contains(msg, tt.ip) {
				t.Fatalf("CheckIP(%s) error %q should name the address and %q", tt.ip, msg, tt.inRange)
			}
		})
	}
}

func TestCheckIPInvalid(t *testing.T) {
	t.Parallel()
	if err := CheckIP(netip.Addr{}, true); !errors.Is(err, ErrBlockedAddress) {
		t.Fatalf("CheckIP(zero Addr) = %v, want ErrBlockedAddress", err)
	}
}

// Every row must be a canonical prefix (no host bits), so the printed range in
// an error is exactly the range that matched.
func TestBlocklistRowsCanonical(t *testing.T) {
	t.Parallel()
	for _, r := range blocklist {
		if r.prefix != r.prefix.Masked() {
			t.Errorf("%s is not canonical; want %s", r.prefix, r.prefix.Masked())
		}
		if r.why == "" {
			t.Errorf("%s has no description", r.prefix)
		}
		if r.embedded != nil && !r.prefix.Addr().Is6() {
			t.Errorf("%s: embedding rows must be IPv6", r.prefix)
		}
	}
}
