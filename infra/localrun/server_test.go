package localrun

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/infra/localbus"
)

// serve starts newServer(handler, lim) on a loopback port and returns its address.
func serve(t *testing.T, handler http.Handler, lim serverLimits) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(handler, lim)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l.Addr().String()
}

// shortLimits are the servers' limits scaled down to seconds, so a test sees them act.
func shortLimits() serverLimits {
	return serverLimits{readHeader: time.Second, read: 2 * time.Second, write: 10 * time.Second, idle: time.Second, maxHeaderBytes: 1 << 10}
}

// A slow-loris client sends complete headers announcing a 1000-byte body, then one body byte a
// second. ReadHeaderTimeout alone never fires (the headers were quick); ReadTimeout must cut
// the connection about ReadTimeout after the request began, however steadily bytes trickle in.
func TestServerCutsOffSlowBody(t *testing.T) {
	t.Parallel()
	lim := shortLimits()
	bodyErr := make(chan error, 1)
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		bodyErr <- err
	}), lim)

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, "POST / HTTP/1.1\r\nHost: herald.test\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	closed := make(chan time.Time, 1)
	go func() {
		_, _ = io.Copy(io.Discard, conn) // returns when the server closes the connection
		closed <- time.Now()
	}()

	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	giveUp := time.After(lim.read + 8*time.Second)
	sent := 0
	for {
		select {
		case at := <-closed:
			elapsed := at.Sub(start)
			t.Logf("cut off after %s, %d body bytes sent", elapsed.Round(time.Millisecond), sent)
			if elapsed < lim.read-200*time.Millisecond || elapsed > lim.read+3*time.Second {
				t.Fatalf("connection closed after %s, want about the %s ReadTimeout", elapsed, lim.read)
			}
			if sent == 0 {
				t.Fatal("cut off before any body byte arrived: the test did not trickle")
			}
			select {
			case err := <-bodyErr:
				if err == nil {
					t.Fatal("the handler read the whole body")
				}
			case <-time.After(time.Second):
				t.Fatal("the handler's body read did not end")
			}
			return
		case <-tick.C:
			if _, err := conn.Write([]byte("x")); err == nil {
				sent++
			}
		case <-giveUp:
			t.Fatalf("connection still open %s after the request began, %d body bytes sent: a slow client holds it forever", time.Since(start).Round(time.Second), sent)
		}
	}
}

// A keep-alive connection left idle after a request is closed after IdleTimeout.
func TestServerClosesIdleConnections(t *testing.T) {
	t.Parallel()
	lim := shortLimits()
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), lim)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: herald.test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	idleFrom := time.Now()
	_ = conn.SetReadDeadline(time.Now().Add(lim.idle + 5*time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: read %v, want the server to close it (EOF)", err)
	}
	if idle := time.Since(idleFrom); idle < lim.idle-200*time.Millisecond || idle > lim.idle+3*time.Second {
		t.Fatalf("idle connection closed after %s, want about the %s IdleTimeout", idle, lim.idle)
	}
}

func TestServerRefusesHugeHeaders(t *testing.T) {
	t.Parallel()
	lim := shortLimits()
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), lim)
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	// Go's server allows 4 KiB above MaxHeaderBytes; 32 KiB is well past both.
	req.Header.Set("X-Padding", strings.Repeat("a", 32<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status %d, want 431", resp.StatusCode)
	}
}

// The production limits keep the relations their comments rely on.
func TestServerLimitsFitTheirRequests(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		lim     serverLimits
		maxBody int64
	}{
		{"configuration API", apiLimits, 64 << 10}, // httpapi's maxBody
		{"PutEvents", eventsLimits, localbus.DefaultMaxRequestBytes},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := tc.lim
			if l.readHeader <= 0 || l.read <= 0 || l.write <= 0 || l.idle <= 0 || l.maxHeaderBytes <= 0 {
				t.Fatalf("%+v: a zero limit is no limit", l)
			}
			if l.readHeader > l.read || l.read >= l.write {
				t.Errorf("%+v: want readHeader <= read < write (write's clock starts after the headers and includes the body)", l)
			}
			// The largest body must fit at 1 Mbit/s, slower than any link the runner is used on.
			if need := time.Duration(tc.maxBody*8/1_000_000+1) * time.Second; l.read < need {
				t.Errorf("read %s: a %d-byte body needs %s at 1 Mbit/s", l.read, tc.maxBody, need)
			}
			if l.idle <= 90*time.Second {
				t.Errorf("idle %s: want above the 90 s idle timeout of Go's and the AWS SDK's clients", l.idle)
			}
			if l.maxHeaderBytes < 16<<10 {
				t.Errorf("maxHeaderBytes %d: too little for SigV4 with a session token", l.maxHeaderBytes)
			}
			srv := newServer(http.NotFoundHandler(), l)
			if srv.ReadHeaderTimeout != l.readHeader || srv.ReadTimeout != l.read || srv.WriteTimeout != l.write || srv.IdleTimeout != l.idle || srv.MaxHeaderBytes != l.maxHeaderBytes {
				t.Fatalf("newServer did not apply %+v", l)
			}
		})
	}
}
