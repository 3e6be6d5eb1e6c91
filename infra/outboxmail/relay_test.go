package outboxmail_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

// relay is a go-smtp server on 127.0.0.1 that keeps what it accepts and can be told to fail.
// Like SES's SMTP interface it takes at most 50 recipients per transaction.
type relay struct {
	addr     *net.TCPAddr
	username string // non-empty: AUTH PLAIN required before MAIL
	password string

	mu       sync.Mutex
	wire     bytes.Buffer // the SMTP conversation, both directions
	got      []relayed
	mailFrom []string
	// rcptErr and dataErr, when set, answer RCPT TO and the end of DATA (n counts DATA
	// commands from 0) instead of accepting.
	rcptErr func(to string) error
	dataErr func(n int) error
	datas   int
}

type relayed struct {
	from  string
	rcpts []string
	data  []byte
}

type relayOptions struct {
	tls      *tls.Config // STARTTLS offered with it
	implicit bool        // TLS from the first byte (with tls)
	username string
	password string
}

func startRelay(t *testing.T, o relayOptions) *relay {
	t.Helper()
	r := &relay{username: o.username, password: o.password}
	srv := gosmtp.NewServer(r)
	srv.Domain = "relay.test"
	srv.MaxRecipients = 50
	srv.AllowInsecureAuth = true // loopback "none" mode with AUTH
	srv.TLSConfig = o.tls
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.Debug = wireLog{r}
	var l net.Listener
	var err error
	if o.implicit {
		l, err = tls.Listen("tcp", "127.0.0.1:0", o.tls)
	} else {
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	r.addr = l.Addr().(*net.TCPAddr)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return r
}

// wireLog appends go-smtp's protocol trace to the relay's transcript.
type wireLog struct{ r *relay }

func (w wireLog) Write(p []byte) (int, error) {
	w.r.mu.Lock()
	defer w.r.mu.Unlock()
	return w.r.wire.Write(p)
}

func (r *relay) transcript() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.wire.String()
}

func (r *relay) messages() []relayed {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]relayed(nil), r.got...)
}

func (r *relay) set(f func(r *relay)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(r)
}

// received counts, per recipient, the copies delivered.
func (r *relay) received() map[string]int {
	n := map[string]int{}
	for _, m := range r.messages() {
		for _, to := range m.rcpts {
			n[to]++
		}
	}
	return n
}

func (r *relay) NewSession(*gosmtp.Conn) (gosmtp.Session, error) {
	return &relaySession{relay: r}, nil
}

type relaySession struct {
	relay  *relay
	authed bool
	from   string
	rcpts  []string
}

var _ gosmtp.AuthSession = (*relaySession)(nil)

func (s *relaySession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *relaySession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, username, password string) error {
		if username != s.relay.username || password != s.relay.password {
			return errors.New("invalid credentials")
		}
		s.authed = true
		return nil
	}), nil
}

func (s *relaySession) Mail(from string, _ *gosmtp.MailOptions) error {
	if s.relay.username != "" && !s.authed {
		return &gosmtp.SMTPError{Code: 530, EnhancedCode: gosmtp.EnhancedCode{5, 7, 0}, Message: "authentication required"}
	}
	s.relay.mu.Lock()
	s.relay.mailFrom = append(s.relay.mailFrom, from)
	s.relay.mu.Unlock()
	s.from = from
	return nil
}

func (s *relaySession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	s.relay.mu.Lock()
	f := s.relay.rcptErr
	s.relay.mu.Unlock()
	if f != nil {
		if err := f(to); err != nil {
			return err
		}
	}
	s.rcpts = append(s.rcpts, strings.ToLower(to))
	return nil
}

func (s *relaySession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.relay.mu.Lock()
	defer s.relay.mu.Unlock()
	n := s.relay.datas
	s.relay.datas++
	if f := s.relay.dataErr; f != nil {
		if err := f(n); err != nil {
			return err
		}
	}
	s.relay.got = append(s.relay.got, relayed{from: s.from, rcpts: s.rcpts, data: data})
	return nil
}

func (s *relaySession) Reset()        { s.from, s.rcpts = "", nil }
func (s *relaySession) Logout() error { return nil }

// selfSigned returns a server TLS config for 127.0.0.1 and a client pool that trusts it.
func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "relay.test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool
}
