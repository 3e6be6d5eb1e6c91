package localqueue

import (
	"database/sql"
	"sync"
)

// Waiting receivers are woken in-process, per database and queue name: a commit that makes a
// message visible closes the channel its queue's receivers hold, and each of them looks
// again. This is what keeps a long poll's latency at a commit plus a query (well under the
// single-machine target of 50 ms p99 from event to receiver) without polling: a 100 ms poll
// would spend that budget twice over on an idle queue's ticks.
//
// A wake-up that finds nothing (another receiver was faster, or the message is delayed) costs
// one indexed query and the receiver waits again, so waking too often is harmless; waking too
// seldom is not, which is why receivers subscribe before they look.
type waitKey struct {
	db    *sql.DB
	queue string
}

var waiters = struct {
	sync.Mutex
	byQueue map[waitKey]chan struct{}
}{byQueue: map[waitKey]chan struct{}{}}

// subscribe returns a channel that is closed by the next wake of queue.
func subscribe(db *sql.DB, queue string) <-chan struct{} {
	k := waitKey{db, queue}
	waiters.Lock()
	defer waiters.Unlock()
	ch, ok := waiters.byQueue[k]
	if !ok {
		ch = make(chan struct{})
		waiters.byQueue[k] = ch
	}
	return ch
}

// wake wakes every receiver subscribed to queue. Call it after the commit, never before: a
// receiver woken early would look, find nothing and wait again.
func wake(db *sql.DB, queue string) {
	k := waitKey{db, queue}
	waiters.Lock()
	defer waiters.Unlock()
	if ch, ok := waiters.byQueue[k]; ok {
		close(ch)
		delete(waiters.byQueue, k)
	}
}
