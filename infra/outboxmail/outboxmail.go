// Package outboxmail sends Herald's email on one machine: every message is written as an
// RFC 5322 file (.eml, openable in any mail client) into <dir>/outbox, and, when an SMTP relay
// is configured, sent through it and moved to <dir>/sent. A message the relay refuses for good
// moves to <dir>/failed beside a .error file saying why; one it cannot take now stays in the
// outbox for Flush.
//
// Files are written to <dir>/tmp, synced and renamed into place, so a crash leaves either a
// whole message or none. The message ID names the file, and a Sender remembers which IDs it
// has written (across restarts, from the folders), so sending an ID twice writes one file and
// sends it once. One process at a time may use a folder.
package outboxmail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/shared/mail"
)

// Folder names under the Sender's directory.
const (
	outboxDir = "outbox"
	sentDir   = "sent"
	failedDir = "failed"
	tmpDir    = "tmp"
)

// TLS modes of SMTPConfig.TLS.
const (
	TLSStartTLS = "starttls" // plain connection upgraded with STARTTLS, required (port 587)
	TLSImplicit = "tls"      // TLS from the first byte (port 465)
	TLSNone     = "none"     // no encryption: only to a relay on the loopback interface
)

// defaultTimeout bounds each SMTP step (connect, a command, the message data): long enough
// for a relay that greylists or scans the message, short enough that a dead relay does not
// hold a flush for minutes.
const defaultTimeout = 30 * time.Second

// SMTPConfig is the relay the Sender hands messages to.
type SMTPConfig struct {
	Host string
	// Port defaults by TLS mode: 587 for starttls, 465 for tls, 25 for none.
	Port               int
	Username, Password string // both empty: no SMTP AUTH
	// TLS is "starttls" (the default), "tls" or "none". "none" sends the password and the
	// mail in clear and is allowed only when Host is localhost or a loopback address.
	TLS string
	// From, when set, replaces Email.From in every message written (header and envelope),
	// for relays that accept only their own verified sender, as Gmail and SES SMTP do.
	From string
	// TLSConfig overrides the TLS settings (a private CA, say). Nil: system roots, Host as
	// the server name.
	TLSConfig *tls.Config
	// Timeout bounds each step with the relay; default 30 s.
	Timeout time.Duration
}

// Options configure a Sender.
type Options struct {
	// SMTP is the relay to send through; nil writes to the outbox only.
	SMTP *SMTPConfig
}

type state int

const (
	inOutbox state = iota
	inSent
	inFailed
)

type entry struct {
	name  string // file name, the same in every folder
	state state
}

// Sender writes mail to an outbox folder and optionally sends it through SMTP. It is safe for
// concurrent use.
type Sender struct {
	dir  string
	smtp *SMTPConfig // nil: outbox only

	mu   sync.Mutex
	ids  map[string]entry
	busy map[string]bool // IDs being sent right now, by Send or Flush
}

// New returns a Sender on dir, creating dir/outbox, dir/sent, dir/failed and dir/tmp (mode
// 0700: messages hold people's addresses) and indexing the messages already there.
func New(dir string, opts Options) (*Sender, error) {
	if dir == "" {
		return nil, errors.New("outboxmail: a directory is required")
	}
	var cfg *SMTPConfig
	if opts.SMTP != nil {
		c, err := opts.SMTP.withDefaults()
		if err != nil {
			return nil, err
		}
		cfg = &c
	}
	s := &Sender{dir: dir, smtp: cfg, ids: map[string]entry{}, busy: map[string]bool{}}
	for _, d := range []string{outboxDir, sentDir, failedDir, tmpDir} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, fmt.Errorf("outboxmail: create %s folder: %w", d, err)
		}
	}
	// A crash while writing leaves a temporary file that was never renamed into the outbox:
	// it is not a message, drop it.
	tmps, err := os.ReadDir(filepath.Join(dir, tmpDir))
	if err != nil {
		return nil, fmt.Errorf("outboxmail: read tmp folder: %w", err)
	}
	for _, t := range tmps {
		_ = os.Remove(filepath.Join(dir, tmpDir, t.Name()))
	}
	for _, f := range []struct {
		dir string
		st  state
	}{{sentDir, inSent}, {failedDir, inFailed}, {outboxDir, inOutbox}} {
		names, err := s.messages(f.dir)
		if err != nil {
			return nil, err
		}
		for _, name := range names {
			if id, ok := idOf(name); ok {
				s.ids[id] = entry{name: name, state: f.st}
			}
		}
	}
	return s, nil
}

func (c SMTPConfig) withDefaults() (SMTPConfig, error) {
	if c.Host == "" {
		return c, errors.New("outboxmail: SMTP host is required")
	}
	if c.TLS == "" {
		c.TLS = TLSStartTLS
	}
	switch c.TLS {
	case TLSStartTLS, TLSImplicit:
	case TLSNone:
		if !isLoopback(c.Host) {
			return c, fmt.Errorf("outboxmail: SMTP TLS %q is allowed only for a loopback host, not %q: "+
				"use %q or %q", TLSNone, c.Host, TLSStartTLS, TLSImplicit)
		}
	default:
		return c, fmt.Errorf("outboxmail: SMTP TLS %q: want %q, %q or %q", c.TLS, TLSStartTLS, TLSImplicit, TLSNone)
	}
	if c.Port == 0 {
		c.Port = map[string]int{TLSStartTLS: 587, TLSImplicit: 465, TLSNone: 25}[c.TLS]
	}
	if c.Port < 1 || c.Port > 65535 {
		return c, fmt.Errorf("outboxmail: SMTP port %d out of range", c.Port)
	}
	if (c.Username == "") != (c.Password == "") {
		return c, errors.New("outboxmail: SMTP username and password go together")
	}
	if c.From != "" {
		if _, err := mail.ParseAddress("smtp from", c.From); err != nil {
			return c, fmt.Errorf("outboxmail: %w", err)
		}
	}
	if c.Timeout <= 0 {
		c.Timeout = defaultTimeout
	}
	return c, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// Send validates e, writes it to the outbox and, with SMTP configured, sends it and moves it
// to sent. On an SMTP failure the message stays in the outbox (Flush retries it) and the error
// is returned; when the relay refused it for good it moves to failed and the error wraps
// mail.ErrRejected.
//
// e.ID is the message's identity: a second Send of an ID already written writes nothing; it
// returns nil once the message is sent, retries it when it is still in the outbox, and returns
// a mail.ErrRejected error when it failed for good. A concurrent Send or Flush already sending
// the same ID makes Send return nil (that call reports the outcome).
func (s *Sender) Send(ctx context.Context, e mail.Email) error {
	if err := e.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	ent, ok := s.ids[e.ID]
	if !ok {
		name, err := s.write(e)
		if err != nil {
			s.mu.Unlock()
			return err
		}
		ent = entry{name: name, state: inOutbox}
		s.ids[e.ID] = ent
	}
	switch {
	case ent.state == inSent:
		s.mu.Unlock()
		return nil
	case ent.state == inFailed:
		s.mu.Unlock()
		return fmt.Errorf("outboxmail: email %s was refused by the relay before (see %s): %w",
			e.ID, filepath.Join(s.dir, failedDir, ent.name+".error"), mail.ErrRejected)
	case s.smtp == nil || s.busy[e.ID]:
		s.mu.Unlock()
		return nil
	}
	s.busy[e.ID] = true
	s.mu.Unlock()

	sess := s.newSession()
	defer sess.close()
	return s.deliver(ctx, sess, e.ID, ent.name)
}

// Flush sends every message left in the outbox, oldest first, over one connection. It goes
// on past a message the relay refuses, and stops when the relay cannot be reached or refuses
// the login: the rest would fail alike. It returns every failure. Without SMTP it does
// nothing. Call it on start-up and on a timer (e.g. with each five-minute notification batch).
func (s *Sender) Flush(ctx context.Context) error {
	if s.smtp == nil {
		return nil
	}
	names, err := s.messages(outboxDir)
	if err != nil {
		return err
	}
	sess := s.newSession()
	defer sess.close()
	var errs []error
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return errors.Join(append(errs, fmt.Errorf("outboxmail: flush: %w", err))...)
		}
		id, ok := idOf(name)
		if !ok {
			continue
		}
		s.mu.Lock()
		ent, known := s.ids[id]
		if s.busy[id] || (known && (ent.state != inOutbox || ent.name != name)) {
			s.mu.Unlock()
			continue
		}
		if !known {
			s.ids[id] = entry{name: name, state: inOutbox} // put there after New, e.g. by hand
		}
		s.busy[id] = true
		s.mu.Unlock()
		if err := s.deliver(ctx, sess, id, name); err != nil {
			errs = append(errs, err)
			if errors.Is(err, errConnect) {
				break
			}
		}
	}
	return errors.Join(errs...)
}

// deliver sends the outbox file name (message id) through sess, recording each accepted chunk
// of recipients so that a retry goes only to the others, then moves the file to sent (or to
// failed when the relay refused it for good). The caller has set busy[id].
func (s *Sender) deliver(ctx context.Context, sess *session, id, name string) error {
	final := inOutbox
	defer func() {
		s.mu.Lock()
		delete(s.busy, id)
		s.ids[id] = entry{name: name, state: final}
		s.mu.Unlock()
	}()
	path := filepath.Join(s.dir, outboxDir, name)
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("outboxmail: read %s: %w", path, err)
	}
	env, err := envelopeOf(raw)
	if err != nil {
		// Not a message Herald wrote (or one edited by hand): it would fail on every flush.
		err = fmt.Errorf("outboxmail: %s is not a sendable message: %w", path, err)
		if mvErr := s.fail(name, err); mvErr != nil {
			return errors.Join(err, mvErr)
		}
		final = inFailed
		return err
	}
	done, err := readProgress(s.progressPath(name))
	if err != nil {
		return err
	}
	var todo []string
	for _, r := range env.to {
		if !done[r] {
			todo = append(todo, r)
		}
	}
	for _, chunk := range mail.Chunks(todo) {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("outboxmail: send email %s: %w", id, err)
		}
		if err := sess.send(ctx, env.from, chunk, raw); err != nil {
			err = fmt.Errorf("outboxmail: send email %s over SMTP: %w", id, err)
			if errors.Is(err, mail.ErrRejected) {
				if mvErr := s.fail(name, err); mvErr != nil {
					return errors.Join(err, mvErr)
				}
				final = inFailed
			}
			return err
		}
		for _, r := range chunk {
			done[r] = true
		}
		if len(done) < len(env.to) {
			if err := writeProgress(filepath.Join(s.dir, tmpDir), s.progressPath(name), env.to, done); err != nil {
				return err
			}
		}
	}
	if err := s.move(name, outboxDir, sentDir); err != nil {
		return err
	}
	final = inSent
	_ = os.Remove(s.progressPath(name))
	return nil
}

// fail moves a message the relay refused for good to failed, with the reason beside it.
func (s *Sender) fail(name string, reason error) error {
	errPath := filepath.Join(s.dir, failedDir, name+".error")
	if err := writeAtomic(filepath.Join(s.dir, tmpDir), errPath, []byte(reason.Error()+"\n")); err != nil {
		return err
	}
	if err := s.move(name, outboxDir, failedDir); err != nil {
		return err
	}
	_ = os.Remove(s.progressPath(name))
	return nil
}

func (s *Sender) move(name, from, to string) error {
	src, dst := filepath.Join(s.dir, from, name), filepath.Join(s.dir, to, name)
	if err := os.Rename(src, dst); err != nil {
		return fmt.Errorf("outboxmail: move %s to %s: %w", src, to, err)
	}
	if err := syncDir(filepath.Join(s.dir, to)); err != nil {
		return err
	}
	return syncDir(filepath.Join(s.dir, from))
}

func (s *Sender) progressPath(name string) string {
	return filepath.Join(s.dir, outboxDir, strings.TrimSuffix(name, ".eml")+".rcpt")
}

// write builds e and writes it into the outbox; it returns the file name. Caller holds mu.
func (s *Sender) write(e mail.Email) (string, error) {
	now := time.Now().UTC()
	from := e.From
	if s.smtp != nil && s.smtp.From != "" {
		from = s.smtp.From
	}
	raw, err := buildMessage(e, from, now)
	if err != nil {
		return "", fmt.Errorf("outboxmail: build email %s: %w", e.ID, err)
	}
	name := fileName(now, e.ID)
	if err := writeAtomic(filepath.Join(s.dir, tmpDir), filepath.Join(s.dir, outboxDir, name), raw); err != nil {
		return "", fmt.Errorf("outboxmail: write email %s: %w", e.ID, err)
	}
	return name, nil
}

// timeLayout sorts by name in time order and has no '-', so the first '-' of a file name
// ends the time and the ID (which may contain '-') follows.
const timeLayout = "20060102T150405.000000000Z"

func fileName(t time.Time, id string) string {
	return t.UTC().Format(timeLayout) + "-" + id + ".eml"
}

func idOf(name string) (string, bool) {
	base, ok := strings.CutSuffix(name, ".eml")
	if !ok {
		return "", false
	}
	_, id, ok := strings.Cut(base, "-")
	return id, ok && id != ""
}

// messages lists the .eml files of folder d, sorted (oldest first).
func (s *Sender) messages(d string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(s.dir, d))
	if err != nil {
		return nil, fmt.Errorf("outboxmail: read %s folder: %w", d, err)
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), ".eml") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}
