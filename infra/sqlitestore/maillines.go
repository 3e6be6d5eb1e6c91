package sqlitestore

// Email lines (the DynamoDB key design of infra/dynamo's MailLines):
//
//	mail_recipients  PRIMARY KEY (tenant_id, address): the window last claimed, the claim's
//	                 lease, how many lines were ever added (seq), and whether any is unsent;
//	                 a partial index on pending lists the recipients the mailer visits
//	mail_lines       PRIMARY KEY (tenant_id, address, id): a line, kept after its email
//	                 (without its text) until expires_at, so a repeated event is refused
//
// Every key leads with the tenant: the same address in two tenants is two recipients.

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/heraldhq/herald/infra/sqlitedb"
	"github.com/heraldhq/herald/shared/mailbatch"
)

const mailSchema = `CREATE TABLE IF NOT EXISTS mail_recipients (
	tenant_id      TEXT    NOT NULL,
	address        TEXT    NOT NULL,
	seq            INTEGER NOT NULL DEFAULT 0,
	claimed_window INTEGER,
	lease_until    INTEGER,
	pending        INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (tenant_id, address)
) STRICT;
CREATE INDEX IF NOT EXISTS mail_recipients_pending ON mail_recipients (tenant_id, address) WHERE pending = 1;
CREATE TABLE IF NOT EXISTS mail_lines (
	tenant_id          TEXT NOT NULL,
	address            TEXT NOT NULL,
	id                 TEXT NOT NULL,
	notification_id    TEXT NOT NULL,
	notification_title TEXT NOT NULL,
	project_hash       TEXT NOT NULL,
	event_type         TEXT NOT NULL,
	text               TEXT NOT NULL,
	occurred_at        TEXT NOT NULL,
	added_at           TEXT NOT NULL DEFAULT '',
	sent_at            INTEGER,
	expires_at         INTEGER,
	PRIMARY KEY (tenant_id, address, id)
) STRICT;
CREATE INDEX IF NOT EXISTS mail_lines_unsent ON mail_lines (tenant_id, address, occurred_at, id) WHERE sent_at IS NULL;
CREATE INDEX IF NOT EXISTS mail_lines_expiry ON mail_lines (expires_at) WHERE expires_at IS NOT NULL`

// pendingPage is how many recipients PendingRecipients reads at a time.
const pendingPage = 500

// MailLines keeps email lines in SQLite; the embedded counterpart of dynamo.MailLines.
type MailLines struct {
	db                                                          *sql.DB
	addLine, bumpRecipient, pendingPage, claim, lines, markLine *sql.Stmt
	settle, release, expire                                     *sql.Stmt
}

var _ mailbatch.Store = (*MailLines)(nil)

// NewMailLines migrates the mail tables in db and prepares the store's statements. The caller
// owns db and closes it after Close.
func NewMailLines(ctx context.Context, db *sql.DB) (*MailLines, error) {
	if err := sqlitedb.Migrate(ctx, db, "sqlitestore mail lines", mailSchema); err != nil {
		return nil, err
	}
	if err := sqlitedb.AddMissingColumns(ctx, db, "mail_lines", "added_at TEXT NOT NULL DEFAULT ''"); err != nil {
		return nil, err
	}
	s := &MailLines{db: db}
	for _, p := range []struct {
		stmt  **sql.Stmt
		query string
	}{
		{&s.addLine, `INSERT INTO mail_lines (tenant_id, address, id, notification_id, notification_title, project_hash, event_type, text, occurred_at, added_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, address, id) DO NOTHING`},
		{&s.bumpRecipient, `INSERT INTO mail_recipients (tenant_id, address, seq, pending) VALUES (?, ?, 1, 1)
			ON CONFLICT (tenant_id, address) DO UPDATE SET seq = seq + 1, pending = 1`},
		{&s.pendingPage, `SELECT tenant_id, address FROM mail_recipients WHERE pending = 1 AND (tenant_id, address) > (?, ?)
			ORDER BY tenant_id, address LIMIT ?`},
		{&s.claim, `UPDATE mail_recipients SET claimed_window = ?, lease_until = ?
			WHERE tenant_id = ? AND address = ? AND (claimed_window IS NULL OR claimed_window < ?) AND (lease_until IS NULL OR lease_until <= ?)
			RETURNING seq`},
		{&s.lines, `SELECT id, notification_id, notification_title, project_hash, event_type, text, occurred_at, added_at FROM mail_lines
			WHERE tenant_id = ? AND address = ? AND sent_at IS NULL ORDER BY occurred_at, id LIMIT ?`},
		{&s.markLine, `UPDATE mail_lines SET sent_at = ?, expires_at = ?, text = '' WHERE tenant_id = ? AND address = ? AND id = ?`},
		// A claim settles or releases only while it is the latest: one whose lease ran out
		// leaves alone the lease of a run that claimed a later window since.
		{&s.settle, `UPDATE mail_recipients SET lease_until = NULL, pending = CASE WHEN ? AND seq = ? THEN 0 ELSE pending END
			WHERE tenant_id = ? AND address = ? AND claimed_window = ?`},
		{&s.release, `UPDATE mail_recipients SET lease_until = NULL WHERE tenant_id = ? AND address = ? AND claimed_window = ?`},
		{&s.expire, `DELETE FROM mail_lines WHERE expires_at IS NOT NULL AND expires_at <= ?`},
	} {
		stmt, err := db.PrepareContext(ctx, p.query)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("prepare %q: %w", p.query, err)
		}
		*p.stmt = stmt
	}
	return s, nil
}

// Close releases the prepared statements; it does not close the database.
func (s *MailLines) Close() error {
	var errs []error
	for _, stmt := range []*sql.Stmt{s.addLine, s.bumpRecipient, s.pendingPage, s.claim, s.lines, s.markLine, s.settle, s.release, s.expire} {
		if stmt != nil {
			errs = append(errs, stmt.Close())
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close email line statements: %w", err)
	}
	return nil
}

// AddLines implements mailbatch.Store in one transaction.
func (s *MailLines) AddLines(ctx context.Context, lines []mailbatch.Line) (int, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("add email lines: begin: %w", err)
	}
	defer tx.Rollback()
	add, bump := tx.StmtContext(ctx, s.addLine), tx.StmtContext(ctx, s.bumpRecipient)
	added, now := 0, time.Now()
	for _, l := range lines {
		at, err := formatTime(l.OccurredAt)
		if err != nil {
			return 0, fmt.Errorf("email line %s: %w", l.ID, err)
		}
		addedAt, err := formatTime(cmp.Or(l.AddedAt, now))
		if err != nil {
			return 0, fmt.Errorf("email line %s: %w", l.ID, err)
		}
		res, err := add.ExecContext(ctx, l.TenantID, l.Recipient, l.ID, l.NotificationID, l.NotificationTitle, l.ProjectHash, l.EventType, l.Text, at, addedAt)
		if err != nil {
			return 0, fmt.Errorf("add email line %s: %w", l.ID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			continue // the same line, pending or sent
		}
		if _, err := bump.ExecContext(ctx, l.TenantID, l.Recipient); err != nil {
			return 0, fmt.Errorf("mark a recipient pending: %w", err)
		}
		added++
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("add email lines: commit: %w", err)
	}
	return added, nil
}

// PendingRecipients implements mailbatch.Store, a page of the pending index at a time.
func (s *MailLines) PendingRecipients(ctx context.Context) iter.Seq2[mailbatch.Recipient, error] {
	return func(yield func(mailbatch.Recipient, error) bool) {
		var after mailbatch.Recipient
		for {
			page, err := s.readPending(ctx, after)
			if err != nil {
				yield(mailbatch.Recipient{}, err)
				return
			}
			for _, r := range page {
				if !yield(r, nil) {
					return
				}
			}
			if len(page) < pendingPage {
				return
			}
			after = page[len(page)-1]
		}
	}
}

func (s *MailLines) readPending(ctx context.Context, after mailbatch.Recipient) ([]mailbatch.Recipient, error) {
	rows, err := s.pendingPage.QueryContext(ctx, after.TenantID, after.Address, pendingPage)
	if err != nil {
		return nil, fmt.Errorf("list pending recipients: %w", err)
	}
	defer rows.Close()
	page := make([]mailbatch.Recipient, 0, pendingPage)
	for rows.Next() {
		var r mailbatch.Recipient
		if err := rows.Scan(&r.TenantID, &r.Address); err != nil {
			return nil, fmt.Errorf("list pending recipients: %w", err)
		}
		page = append(page, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list pending recipients: %w", err)
	}
	return page, nil
}

// Claim implements mailbatch.Store with one conditional UPDATE.
func (s *MailLines) Claim(ctx context.Context, r mailbatch.Recipient, window int64, now, leaseUntil time.Time) (mailbatch.Claim, bool, error) {
	var seq int64
	err := s.claim.QueryRowContext(ctx, window, leaseUntil.UnixMilli(), r.TenantID, r.Address, window, now.UnixMilli()).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return mailbatch.Claim{}, false, nil
	}
	if err != nil {
		return mailbatch.Claim{}, false, fmt.Errorf("claim window %d of a recipient: %w", window, err)
	}
	return mailbatch.Claim{Recipient: r, Window: window, Seq: seq, LeaseUntil: leaseUntil}, true, nil
}

// PendingLines implements mailbatch.Store.
func (s *MailLines) PendingLines(ctx context.Context, r mailbatch.Recipient, limit int) ([]mailbatch.Line, error) {
	rows, err := s.lines.QueryContext(ctx, r.TenantID, r.Address, limit)
	if err != nil {
		return nil, fmt.Errorf("read a recipient's email lines: %w", err)
	}
	defer rows.Close()
	var out []mailbatch.Line
	for rows.Next() {
		l := mailbatch.Line{TenantID: r.TenantID, Recipient: r.Address}
		var at, addedAt string
		if err := rows.Scan(&l.ID, &l.NotificationID, &l.NotificationTitle, &l.ProjectHash, &l.EventType, &l.Text, &at, &addedAt); err != nil {
			return nil, fmt.Errorf("read a recipient's email lines: %w", err)
		}
		if l.OccurredAt, err = parseTime("occurred_at", at); err != nil {
			return nil, err
		}
		if addedAt != "" {
			if l.AddedAt, err = parseTime("added_at", addedAt); err != nil {
				return nil, err
			}
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read a recipient's email lines: %w", err)
	}
	return out, nil
}

// MarkSent implements mailbatch.Store in one transaction.
func (s *MailLines) MarkSent(ctx context.Context, c mailbatch.Claim, lineIDs []string, allSent bool, sentAt time.Time) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("mark email lines sent: begin: %w", err)
	}
	defer tx.Rollback()
	mark := tx.StmtContext(ctx, s.markLine)
	expires := sentAt.Add(mailbatch.SentRetention).Unix()
	for _, id := range lineIDs {
		if _, err := mark.ExecContext(ctx, sentAt.UnixMilli(), expires, c.Recipient.TenantID, c.Recipient.Address, id); err != nil {
			return fmt.Errorf("mark email line %s sent: %w", id, err)
		}
	}
	if _, err := tx.StmtContext(ctx, s.settle).ExecContext(ctx, allSent, c.Seq, c.Recipient.TenantID, c.Recipient.Address, c.Window); err != nil {
		return fmt.Errorf("settle a recipient's claim: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("mark email lines sent: commit: %w", err)
	}
	return nil
}

// Release implements mailbatch.Store.
func (s *MailLines) Release(ctx context.Context, c mailbatch.Claim) error {
	if _, err := s.release.ExecContext(ctx, c.Recipient.TenantID, c.Recipient.Address, c.Window); err != nil {
		return fmt.Errorf("release a recipient's claim: %w", err)
	}
	return nil
}

// Expire deletes sent lines past mailbatch.SentRetention, as DynamoDB's TTL does on AWS, and
// returns how many.
func (s *MailLines) Expire(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.expire.ExecContext(ctx, now.Unix())
	if err != nil {
		return 0, fmt.Errorf("expire sent email lines: %w", err)
	}
	return res.RowsAffected()
}
