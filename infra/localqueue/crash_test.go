package localqueue_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/infra/localqueue"
	"github.com/heraldhq/herald/infra/sqlitedb"
	"github.com/heraldhq/herald/shared/delivery"
)

const (
	crashChildEnv = "LOCALQUEUE_CRASH_CHILD_DIR"
	crashJobs     = 2000
	crashWriters  = 4
)

// Scenario: a child process (this test binary again) enqueues jobs from four goroutines and
// prints each job's id once its Enqueue has returned; the parent kills it with SIGKILL midway,
// reopens the database and must receive every printed job. SIGKILL gives the process no
// chance to flush or close anything, so only what the commit itself made durable survives.
func TestSIGKILLLosesNoCommittedMessage(t *testing.T) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir)
		return
	}
	t.Parallel()
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSIGKILLLosesNoCommittedMessage$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	printed := map[string]bool{}
	killed := false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		id, ok := strings.CutPrefix(sc.Text(), "committed ")
		if !ok {
			continue
		}
		printed[id] = true
		if len(printed) == crashJobs/2 && !killed {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	// Lines the child wrote before it died are still in the pipe, and they count too.
	err = cmd.Wait()
	if !killed {
		t.Fatalf("the child finished all %d jobs (%v) before it could be killed; printed %d", crashJobs, err, len(printed))
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want killed by SIGKILL", err)
	}

	ctx := context.Background()
	db, err := sqlitedb.Open(ctx, dir, sqlitedb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	q, err := localqueue.New(ctx, db, "work", localqueue.Options{VisibilityTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for {
		msgs, err := q.Receive(ctx, 100, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			j, err := delivery.DecodeJob([]byte(m.Body))
			if err != nil {
				t.Fatal(err)
			}
			found[j.ID] = true
		}
	}
	missing := 0
	for id := range printed {
		if !found[id] {
			missing++
		}
	}
	t.Logf("child killed after %d printed commits; the reopened queue holds %d jobs (committed but not yet printed ones included)", len(printed), len(found))
	if missing > 0 {
		t.Fatalf("%d of %d jobs whose Enqueue had returned are lost", missing, len(printed))
	}
}

func crashChild(dir string) {
	ctx := context.Background()
	db, err := sqlitedb.Open(ctx, dir, sqlitedb.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	q, err := localqueue.New(ctx, db, "work", localqueue.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range crashWriters {
		wg.Go(func() {
			for i := w; i < crashJobs; i += crashWriters {
				j := job(i)
				if err := q.Enqueue(ctx, []delivery.Job{j}); err != nil {
					fmt.Fprintln(os.Stderr, "child:", err)
					os.Exit(2)
				}
				mu.Lock()
				// os.Stdout is unbuffered: the line is in the pipe when Println returns.
				fmt.Println("committed " + j.ID)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	os.Exit(0)
}
