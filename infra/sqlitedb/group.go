package sqlitedb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"slices"
	"sync"
)

// Group commit. SQLite lets one transaction write at a time and, with synchronous=FULL, syncs
// the write-ahead log at every commit. An event crosses the embedded runtime in seven to ten
// short write transactions (its sends to the router's and the notifier's invocation queues,
// their receives and deletes, the router's enqueue, and the delivery queue's receive, attempt
// log and delete), so 500 events/s asked for thousands of syncs a second: FULL sustained 387
// events/s with a p99 of 5 s (2-core VM). Writers that each waited for SQLite's lock also
// paid its busy handler, which sleeps 1, 2, 5, 10 ms... between tries; queueing them in
// process instead took NORMAL's p99 at 500 events/s from 179 to 47 ms (same round, shared
// 2-core VM).
//
// Write instead queues a writer's work in process. One goroutine per database (the leader,
// started by the first writer that finds none and gone when nothing waits) takes everything
// queued, runs each writer's work in a savepoint of one transaction and commits once: one
// sync for the whole group. A group forms by itself while the previous one commits, so an
// idle database commits a lone writer at once, with no timer.
//
// A group of WriteUnsynced writes only commits without the sync even with FULL. SQLite
// replays its log after a power cut in commit order, up to the first commit not wholly on
// disk, so a sync makes every earlier commit durable too and a power cut can only take a tail
// of commits, never one from the middle. Receives, deletes and the attempt log ride on the
// next synced commit (an accepted event, an enqueue) or are undone together with everything
// after them, and an undone receive or delete only brings a message back: at-least-once, as
// after a killed process. At 500 events/s a quarter of the groups (2,544 of 10,733) then
// commit without a sync; the rest hold a send or an enqueue.

// maxGroup bounds a group: 64 of Herald's writes (each a batch of at most ten messages or
// attempts) hold the write lock for a few milliseconds, which the writers outside Write
// (configuration, housekeeping) wait out on busy_timeout.
const maxGroup = 64

type writeRequest struct {
	ctx    context.Context
	fn     func(context.Context, *sql.Tx) error
	synced bool
	done   chan error
	// taken is set by the leader, under groups' lock, once the request is in a group: from
	// then on its writer waits for the outcome, whatever its context says.
	taken bool
}

var groups = struct {
	sync.Mutex
	pending map[*sql.DB][]*writeRequest
}{pending: map[*sql.DB][]*writeRequest{}}

// Write runs fn in a write transaction of db that it may share with other callers of Write
// on the same db, each caller's fn in its own savepoint. It returns nil once fn's writes are
// committed (synced, with synchronous=FULL) and fn's error, with its writes rolled back, when
// fn fails; an error of the shared transaction itself (begin, commit) is every member's, and
// none of their writes is committed. fn must only use tx and must not keep it: it runs on the
// leader's goroutine, with ctx's values but never its cancellation, since cancelling a
// statement would roll back the whole group. A caller whose ctx ends before its fn was taken
// into a group gets ctx's error and fn never runs; once taken, Write waits for the commit.
//
// Callers wake whatever waits for their writes after Write returns, never inside fn: until
// the commit nobody else can see them.
func Write(ctx context.Context, db *sql.DB, fn func(ctx context.Context, tx *sql.Tx) error) error {
	return write(ctx, db, fn, true)
}

// WriteUnsynced is Write for writes that may be undone by a power cut, with synchronous=FULL,
// until the next synced commit: it returns once they are committed, before they are synced. A
// killed process keeps them, as it keeps every commit. Only a write that is redone or harmless
// when undone belongs here, such as a queue's receive or delete (the message comes back), and
// never one whose success is reported outside the database before a later synced write.
func WriteUnsynced(ctx context.Context, db *sql.DB, fn func(ctx context.Context, tx *sql.Tx) error) error {
	return write(ctx, db, fn, false)
}

func write(ctx context.Context, db *sql.DB, fn func(ctx context.Context, tx *sql.Tx) error, synced bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &writeRequest{ctx: context.WithoutCancel(ctx), fn: fn, synced: synced, done: make(chan error, 1)}
	groups.Lock()
	queued, leading := groups.pending[db]
	groups.pending[db] = append(queued, r)
	if !leading {
		go lead(db)
	}
	groups.Unlock()
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
	}
	groups.Lock()
	if !r.taken {
		groups.pending[db] = slices.DeleteFunc(groups.pending[db], func(p *writeRequest) bool { return p == r })
		groups.Unlock()
		return ctx.Err()
	}
	groups.Unlock()
	return <-r.done
}

// lead commits db's queued writes, a group at a time, until none is left. A database with an
// entry in groups.pending has a leader; the leader removes the entry when it leaves.
func lead(db *sql.DB) {
	l := &leader{db: db}
	defer l.release()
	for {
		groups.Lock()
		queued := groups.pending[db]
		if len(queued) == 0 {
			delete(groups.pending, db)
			groups.Unlock()
			return
		}
		n := min(len(queued), maxGroup)
		group := slices.Clone(queued[:n])
		groups.pending[db] = queued[n:]
		for _, r := range group {
			r.taken = true
		}
		groups.Unlock()
		l.commit(group)
	}
}

// leader is a leader's connection, kept while it leads, and what it knows of its setting.
type leader struct {
	db   *sql.DB
	conn *sql.Conn
	// full is the database's setting, synchronous=FULL; relaxed means the connection is set to
	// NORMAL for the moment, for a group of WriteUnsynced writes.
	full, relaxed bool
}

// Neither the writers' contexts nor the leader's: database/sql rolls a transaction back when
// its context ends.
var background = context.Background()

func (l *leader) connect() error {
	if l.conn != nil {
		return nil
	}
	conn, err := l.db.Conn(background)
	if err != nil {
		return err
	}
	var level int
	if err := conn.QueryRowContext(background, "PRAGMA synchronous").Scan(&level); err != nil {
		conn.Close()
		return fmt.Errorf("read the synchronous setting: %w", err)
	}
	l.conn, l.full, l.relaxed = conn, level >= 2, false
	return nil
}

// setSynced makes the connection's commits synced or not; on a NORMAL database none is.
func (l *leader) setSynced(synced bool) error {
	if !l.full || l.relaxed == !synced {
		return nil
	}
	level := "FULL"
	if !synced {
		level = "NORMAL"
	}
	if _, err := l.conn.ExecContext(background, "PRAGMA synchronous = "+level); err != nil {
		return fmt.Errorf("set synchronous=%s: %w", level, err)
	}
	l.relaxed = !synced
	return nil
}

// release gives the connection back to the pool as it was found, or drops it: a connection
// left at NORMAL would not sync the other writers' commits.
func (l *leader) release() {
	if l.conn == nil {
		return
	}
	if err := l.setSynced(true); err != nil {
		_ = l.conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	l.conn.Close()
	l.conn = nil
}

// savepoint isolates one writer's work within a group, so that its failure undoes its own
// writes only.
const savepoint = "herald_write"

func (l *leader) commit(group []*writeRequest) {
	errs := make([]error, len(group))
	failAll := func(err error) {
		for i, r := range group {
			r.done <- firstError(errs[i], err)
		}
	}
	synced := slices.ContainsFunc(group, func(r *writeRequest) bool { return r.synced })
	if err := l.connect(); err != nil {
		failAll(fmt.Errorf("begin: %w", err))
		return
	}
	if err := l.setSynced(synced); err != nil {
		l.release()
		failAll(fmt.Errorf("begin: %w", err))
		return
	}
	tx, err := l.conn.BeginTx(background, nil)
	if err != nil {
		// Whatever broke may be the connection's: the next group takes another.
		l.release()
		failAll(fmt.Errorf("begin: %w", err))
		return
	}
	defer tx.Rollback()
	if len(group) == 1 {
		// Alone: the transaction is the writer's, and a failure rolls it all back.
		r := group[0]
		if err := r.run(tx); err != nil {
			r.done <- err
			return
		}
		if err := tx.Commit(); err != nil {
			r.done <- fmt.Errorf("commit: %w", err)
			return
		}
		r.done <- nil
		return
	}
	for i, r := range group {
		if _, err := tx.ExecContext(background, "SAVEPOINT "+savepoint); err != nil {
			failAll(fmt.Errorf("open a savepoint: %w", err))
			return
		}
		if errs[i] = r.run(tx); errs[i] != nil {
			// An I/O error or a full disk may have rolled the whole transaction back already;
			// then the savepoint is gone and so are the group's writes.
			if _, err := tx.ExecContext(background, "ROLLBACK TO "+savepoint); err != nil {
				failAll(fmt.Errorf("roll back a failed write of the group (%w): %w", errs[i], err))
				return
			}
		}
		if _, err := tx.ExecContext(background, "RELEASE "+savepoint); err != nil {
			failAll(fmt.Errorf("release a savepoint: %w", err))
			return
		}
	}
	if err := tx.Commit(); err != nil {
		failAll(fmt.Errorf("commit: %w", err))
		return
	}
	for i, r := range group {
		r.done <- errs[i]
	}
}

// run runs the writer's work on the leader's goroutine, where a panic would take the whole
// process down rather than the writer alone: it becomes the writer's error, and its writes
// are rolled back like any failure's.
func (r *writeRequest) run(tx *sql.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("write panicked: %v", p)
		}
	}()
	return r.fn(r.ctx, tx)
}

// firstError is the first of errs that is not nil.
func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
