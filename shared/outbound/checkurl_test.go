package outbound

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// fakeDNS serves zone over UDP on 127.0.0.1 and returns a pure-Go resolver
// that uses it, so resolution is tested without network access. Names not in
// zone get NXDOMAIN.
func fakeDNS(t *testing.T, zone map[string][]netip.Addr) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return // closed
			}
			if resp, ok := dnsAnswer(buf[:n], zone); ok {
				_, _ = pc.WriteTo(resp, from)
			}
		}
	}()
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp", pc.LocalAddr().String())
		},
	}
}

// dnsAnswer builds the reply to a single-question query (RFC 1035 §4.1).
func dnsAnswer(q []byte, zone map[string][]netip.Addr) ([]byte, bool) {
	if len(q) < 12 || binary.BigEndian.Uint16(q[4:6]) != 1 {
		return nil, false
	}
	// Walk the QNAME labels.
	var labels []string
	off := 12
	for {
		if off >= len(q) {
			return nil, false
		}
		l := int(q[off])
		off++
		if l == 0 {
			break
		}
		if l > 63 || off+l > len(q) {
			return nil, false
		}
		labels = append(labels, string(q[off:off+l]))
		off += l
	}
	if off+4 > len(q) {
		return nil, false
	}
	qtype := binary.BigEndian.Uint16(q[off : off+2])
	question := q[12 : off+4]
	name := strings.ToLower(strings.Join(labels, "."))

	addrs, exists := zone[name]
	var answers []byte
	count := 0
	for _, a := range addrs {
		var rdata []byte
		switch {
		case qtype == 1 && a.Is4():
			b := a.As4()
			rdata = b[:]
		case qtype == 28 && a.Is6():
			b := a.As16()
			rdata = b[:]
		default:
			continue
		}
		rr := []byte{0xc0, 0x0c} // pointer to the question name
		rr = binary.BigEndian.AppendUint16(rr, qtype)
		rr = binary.BigEndian.AppendUint16(rr, 1)  // class IN
		rr = binary.BigEndian.AppendUint32(rr, 60) // TTL
		rr = binary.BigEndian.AppendUint16(rr, uint16(len(rdata)))
		answers = append(append(answers, rr...), rdata...)
		count++
	}
	flags := uint16(0x8180) // response, recursion desired + available
	if !exists {
		flags |= 3 // NXDOMAIN
	}
	resp := make([]byte, 12, 12+len(question)+len(answers))
	copy(resp[0:2], q[0:2]) // ID
	binary.BigEndian.PutUint16(resp[2:4], flags)
	binary.BigEndian.PutUint16(resp[4:6], 1)
	binary.BigEndian.PutUint16(resp[6:8], uint16(count))
	resp = append(append(resp, question...), answers...)
	return resp, true
}

// noDNS fails the test if CheckURL tries to resolve anything.
func noDNS(t *testing.T) *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(context.Context, string, string) (net.Conn, error) {
			t.Error("unexpected DNS lookup")
			return nil, errors.New("DNS disabled in this test")
		},
	}
}

func TestCheckURL(t *testing.T) {
	t.Parallel()
	zone := map[string][]netip.Addr{
		"public.test": {netip.MustParseAddr("8.8.8.8"), netip.MustParseAddr("2606:4700::1111")},
		// One good and one bad address: the dialer might pick either.
		"mixed.test":    {netip.MustParseAddr("8.8.8.8"), netip.MustParseAddr("10.0.0.1")},
		"mixed6.test":   {netip.MustParseAddr("8.8.8.8"), netip.MustParseAddr("fd00:ec2::254")},
		"rebind.test":   {netip.MustParseAddr("169.254.169.254")},
		"loopback.test": {netip.MustParseAddr("127.0.0.1")},
		"empty.test":    {},
	}

	type want struct {
		ok      bool
		part    string // URLError.Part
		blocked bool   // errors.Is(err, ErrBlockedAddress)
		text    string // substring of Error()
	}
	tests := []struct {
		name          string
		raw           string
		allowInsecure bool
		allowLoopback bool
		dns           bool // false: any lookup fails the test
		want          want
	}{
		// Accepted.
		{name: "https v4 literal", raw: "https://8.8.8.8/hook", want: want{ok: true}},
		{name: "https v6 literal", raw: "https://[2606:4700::1111]:8443/hook?x=1", want: want{ok: true}},
		{name: "upper-case scheme", raw: "HTTPS://8.8.8.8/hook", want: want{ok: true}},
		{name: "http when insecure allowed", raw: "http://8.8.8.8/hook", allowInsecure: true, want: want{ok: true}},
		{name: "public name", raw: "https://public.test/hook", dns: true, want: want{ok: true}},
		{name: "loopback in local mode", raw: "http://127.0.0.1:8080/hook", allowInsecure: true, allowLoopback: true, want: want{ok: true}},
		{name: "loopback name in local mode", raw: "http://loopback.test:8080/hook", allowInsecure: true, allowLoopback: true, dns: true, want: want{ok: true}},

		// Shape of the URL.
		{name: "empty", raw: "", want: want{part: "url", text: "required"}},
		{name: "relative", raw: "/hook", want: want{part: "url", text: "absolute"}},
		{name: "garbage", raw: "https://8.8.8.8:port/", want: want{part: "url", text: "invalid port"}},
		{name: "ftp", raw: "ftp://8.8.8.8/hook", want: want{part: "scheme", text: `"ftp"`}},
		{name: "ftp insecure allowed", raw: "ftp://8.8.8.8/hook", allowInsecure: true, want: want{part: "scheme", text: "http or https"}},
		{name: "javascript", raw: "javascript:alert(1)", want: want{part: "scheme"}},
		{name: "http when insecure refused", raw: "http://8.8.8.8/hook", want: want{part: "scheme", text: "must be https"}},
		{name: "userinfo", raw: "https://user:pass@8.8.8.8/hook", want: want{part: "userinfo"}},
		{name: "user only", raw: "https://user@8.8.8.8/hook", want: want{part: "userinfo"}},
		{name: "missing host", raw: "https:///hook", want: want{part: "host", text: "missing"}},
		{name: "port only", raw: "https://:443/hook", want: want{part: "host", text: "missing"}},
		{name: "opaque", raw: "https:8.8.8.8/hook", want: want{part: "host", text: "missing"}},
		{name: "port zero", raw: "https://8.8.8.8:0/hook", want: want{part: "port"}},
		{name: "port too big", raw: "https://8.8.8.8:65536/hook", want: want{part: "port"}},
		{name: "empty port", raw: "https://8.8.8.8:/hook", want: want{part: "port"}},

		// Blocked literals: judged without DNS.
		{name: "loopback v4", raw: "https://127.0.0.1/hook", want: want{part: "host", blocked: true, text: "127.0.0.0/8"}},
		{name: "loopback v6", raw: "https://[::1]/hook", want: want{part: "host", blocked: true, text: "::1/128"}},
		{name: "private", raw: "https://10.1.2.3/hook", want: want{part: "host", blocked: true, text: "10.0.0.0/8"}},
		{name: "private 192.168", raw: "https://192.168.1.10:8443/hook", want: want{part: "host", blocked: true}},
		{name: "metadata", raw: "https://169.254.169.254/latest", want: want{part: "host", blocked: true, text: "metadata"}},
		{name: "mapped metadata", raw: "https://[::ffff:169.254.169.254]/", want: want{part: "host", blocked: true, text: "metadata"}},
		{name: "link-local with zone", raw: "https://[fe80::1%25eth0]/", want: want{part: "host", blocked: true, text: "fe80::/10"}},
		{name: "unspecified", raw: "https://0.0.0.0/", allowLoopback: true, want: want{part: "host", blocked: true}},
		{name: "private in local mode", raw: "https://10.0.0.1/", allowLoopback: true, want: want{part: "host", blocked: true}},

		// Names: every resolved address must pass.
		{name: "mixed v4", raw: "https://mixed.test/hook", dns: true, want: want{part: "host", blocked: true, text: "10.0.0.1"}},
		{name: "mixed v6 metadata", raw: "https://mixed6.test/hook", dns: true, want: want{part: "host", blocked: true, text: "fd00:ec2::254"}},
		{name: "metadata by name", raw: "https://rebind.test/", dns: true, allowLoopback: true, want: want{part: "host", blocked: true, text: "metadata"}},
		{name: "loopback by name", raw: "https://loopback.test/", dns: true, want: want{part: "host", blocked: true, text: `"loopback.test" resolves to`}},
		{name: "nxdomain", raw: "https://nx.test/hook", dns: true, want: want{part: "host", text: "does not exist"}},
		{name: "no addresses", raw: "https://empty.test/hook", dns: true, want: want{part: "host"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := noDNS(t)
			if tt.dns {
				r = fakeDNS(t, zone)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := CheckURL(ctx, tt.raw, tt.allowInsecure, tt.allowLoopback, r)
			if tt.want.ok {
				if err != nil {
					t.Fatalf("CheckURL(%q) = %v, want ok", tt.raw, err)
				}
				return
			}
			var ue *URLError
			if !errors.As(err, &ue) {
				t.Fatalf("CheckURL(%q) = %v (%T), want *URLError", tt.raw, err, err)
			}
			if ue.Part != tt.want.part {
				t.Errorf("Part = %q, want %q (err: %v)", ue.Part, tt.want.part, err)
			}
			if got := errors.Is(err, ErrBlockedAddress); got != tt.want.blocked {
				t.Errorf("errors.Is(ErrBlockedAddress) = %v, want %v (err: %v)", got, tt.want.blocked, err)
			}
			if !strings.Contains(err.Error(), tt.want.text) {
				t.Errorf("error %q does not mention %q", err, tt.want.text)
			}
		})
	}
}

// "localhost" through the real default resolver (answered from /etc/hosts or
// Go's built-in localhost handling, never the network) is refused.
func TestCheckURLLocalhostDefaultResolver(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := CheckURL(ctx, "https://localhost/hook", false, false, nil)
	if !errors.Is(err, ErrBlockedAddress) {
		t.Fatalf("CheckURL(localhost) = %v, want ErrBlockedAddress", err)
	}
}

// A DNS failure must not leak the resolver's address to API clients, but the
// cause stays reachable with errors.As.
func TestCheckURLDNSErrorText(t *testing.T) {
	t.Parallel()
	r := &net.Resolver{
		PreferGo: true,
		Dial: func(context.Context, string, string) (net.Conn, error) {
			return nil, errors.New("dial 10.255.255.53:53: unreachable")
		},
	}
	err := CheckURL(context.Background(), "https://unreachable.test/hook", false, false, r)
	var ue *URLError
	if !errors.As(err, &ue) || ue.Part != "host" {
		t.Fatalf("err = %v, want *URLError for host", err)
	}
	if strings.Contains(err.Error(), "10.255.255.53") {
		t.Fatalf("error %q leaks the resolver address", err)
	}
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) {
		t.Fatalf("err = %v, want a wrapped *net.DNSError", err)
	}
}

func TestCheckURLCanceledContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := CheckURL(ctx, "https://public.test/hook", false, false, fakeDNS(t, nil))
	var ue *URLError
	if !errors.As(err, &ue) || ue.Part != "host" || errors.Is(err, ErrBlockedAddress) {
		t.Fatalf("err = %v, want a non-blocked host URLError", err)
	}
}
