package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/heraldhq/herald/shared/delivery"
)

var _ delivery.HealthStore = (*Store)(nil)

// AddFailure implements delivery.HealthStore in one statement, which returns the streak as
// it now stands.
func (s *Store) AddFailure(ctx context.Context, ref delivery.EndpointRef, at time.Time) (delivery.FailureStreak, error) {
	stamp, err := formatTime(at)
	if err != nil {
		return delivery.FailureStreak{}, fmt.Errorf("add a failure to webhook %s: %w", ref.WebhookID, err)
	}
	var (
		since  string
		streak delivery.FailureStreak
	)
	err = s.db.QueryRowContext(ctx, `UPDATE webhooks SET failing_since = CASE failing_since WHEN '' THEN ? ELSE failing_since END,
		failures = failures + 1 WHERE tenant_id = ? AND id = ? RETURNING failing_since, failures`,
		stamp, ref.TenantID, ref.WebhookID).Scan(&since, &streak.Failures)
	if errors.Is(err, sql.ErrNoRows) {
		return delivery.FailureStreak{}, nil
	}
	if err != nil {
		return delivery.FailureStreak{}, fmt.Errorf("add a failure to webhook %s: %w", ref.WebhookID, err)
	}
	if streak.Since, err = parseOptionalTime("failing_since", since); err != nil {
		return delivery.FailureStreak{}, fmt.Errorf("add a failure to webhook %s: %w", ref.WebhookID, err)
	}
	return streak, nil
}

// RestartStreak implements delivery.HealthStore.
func (s *Store) RestartStreak(ctx context.Context, ref delivery.EndpointRef, since, at time.Time) error {
	stamp, err := formatTime(at)
	if err != nil {
		return fmt.Errorf("restart the failure streak of webhook %s: %w", ref.WebhookID, err)
	}
	return s.updateStreak(ctx, ref, since, `failing_since = ?, failures = 1`, stamp)
}

// EndStreak implements delivery.HealthStore.
func (s *Store) EndStreak(ctx context.Context, ref delivery.EndpointRef, since time.Time) error {
	return s.updateStreak(ctx, ref, since, `failing_since = '', failures = 0`)
}

// updateStreak sets ref's streak columns if its streak still starts at since.
func (s *Store) updateStreak(ctx context.Context, ref delivery.EndpointRef, since time.Time, set string, args ...any) error {
	from, err := formatTime(since)
	if err != nil {
		return fmt.Errorf("update the failure streak of webhook %s: %w", ref.WebhookID, err)
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE webhooks SET `+set+` WHERE tenant_id = ? AND id = ? AND failing_since = ?`,
		append(args, ref.TenantID, ref.WebhookID, from)...); err != nil {
		return fmt.Errorf("update the failure streak of webhook %s: %w", ref.WebhookID, err)
	}
	return nil
}

// DisableFailing implements delivery.HealthStore.
func (s *Store) DisableFailing(ctx context.Context, ref delivery.EndpointRef, since time.Time, reason string) (delivery.DisabledWebhook, bool, error) {
	from, err := formatTime(since)
	if err != nil {
		return delivery.DisabledWebhook{}, false, fmt.Errorf("disable failing webhook %s: %w", ref.WebhookID, err)
	}
	return s.disable(ctx, ref, reason, ` AND enabled = 1 AND failing_since = ?`, from)
}
