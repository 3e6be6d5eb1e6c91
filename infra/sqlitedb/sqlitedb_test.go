package sqlitedb_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/heraldhq/herald/infra/sqlitedb"
)

func TestOpenCreatesAndReopens(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	db, err := sqlitedb.Open(ctx, dir, sqlitedb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlitedb.Migrate(ctx, db, "test", "CREATE TABLE IF NOT EXISTS t (x INTEGER);\nINSERT INTO t VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode %q, %v", mode, err)
	}
	db.Close()
	db, err = sqlitedb.Open(ctx, dir, sqlitedb.Options{Synchronous: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var x int
	if err := db.QueryRow("SELECT x FROM t").Scan(&x); err != nil || x != 42 {
		t.Fatalf("row after reopen: %d, %v", x, err)
	}
}

func TestOpenRefusesACorruptFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	garbage := make([]byte, 8192)
	copy(garbage, "SQLite format 3\x00")
	for i := 16; i < len(garbage); i++ {
		garbage[i] = byte(i * 7)
	}
	if err := os.WriteFile(filepath.Join(dir, sqlitedb.FileName), garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := sqlitedb.Open(context.Background(), dir, sqlitedb.Options{})
	if !errors.Is(err, sqlitedb.ErrCorrupt) {
		t.Fatalf("error %v, want ErrCorrupt", err)
	}
	t.Logf("error: %v", err)
}

// A full disk is simulated with RLIMIT_FSIZE in a child process: writes past the limit fail
// with EFBIG, as they would with ENOSPC, and Open must report it rather than start.
func TestOpenFailsWhenTheDiskIsFull(t *testing.T) {
	if os.Getenv("SQLITEDB_DISK_FULL_CHILD") == "1" {
		signal.Ignore(syscall.SIGXFSZ)
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: 1024, Max: 1024}); err != nil {
			fmt.Println("setrlimit:", err)
			os.Exit(2)
		}
		_, err := sqlitedb.Open(context.Background(), os.Getenv("SQLITEDB_DIR"), sqlitedb.Options{})
		if !errors.Is(err, sqlitedb.ErrStorage) {
			fmt.Println("want ErrStorage, got:", err)
			os.Exit(1)
		}
		fmt.Println("refused:", err)
		os.Exit(0)
	}
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^TestOpenFailsWhenTheDiskIsFull$")
	cmd.Env = append(os.Environ(), "SQLITEDB_DISK_FULL_CHILD=1", "SQLITEDB_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "refused:") {
		t.Fatalf("child: %v\n%s", err, out)
	}
	t.Logf("%s", strings.TrimSpace(string(out)))
}

func TestOpenRejectsUnknownSynchronous(t *testing.T) {
	t.Parallel()
	_, err := sqlitedb.Open(context.Background(), t.TempDir(), sqlitedb.Options{Synchronous: "OFF"})
	if err == nil || errors.Is(err, sqlitedb.ErrCorrupt) {
		t.Fatalf("error %v, want a configuration error", err)
	}
}

// The database holds signing secrets: its file is its owner's alone, new or inherited.
func TestTheFileIsReadableByItsOwnerOnly(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, sqlitedb.FileName)
	db, err := sqlitedb.Open(context.Background(), dir, sqlitedb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("new file mode %v, %v; want 0600", info.Mode().Perm(), err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	db, err = sqlitedb.Open(context.Background(), dir, sqlitedb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o600 {
		t.Fatalf("a file left 0644 is %v after Open; want 0600", info.Mode().Perm())
	}
}

// Deleted rows' pages go back to the file system: the file shrinks to what is kept.
func TestReclaimShrinksTheFileAfterDeletes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	db, err := sqlitedb.Open(ctx, dir, sqlitedb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := sqlitedb.Migrate(ctx, db, "test", "CREATE TABLE IF NOT EXISTS t (x BLOB)"); err != nil {
		t.Fatal(err)
	}
	for range 200 {
		if _, err := db.Exec("INSERT INTO t VALUES (randomblob(50000))"); err != nil {
			t.Fatal(err)
		}
	}
	size := func() int64 {
		t.Helper()
		if err := sqlitedb.Reclaim(ctx, db); err != nil {
			t.Fatal(err)
		}
		info, err := os.Stat(filepath.Join(dir, sqlitedb.FileName))
		if err != nil {
			t.Fatal(err)
		}
		return info.Size()
	}
	full := size()
	if _, err := db.Exec("DELETE FROM t"); err != nil {
		t.Fatal(err)
	}
	for range 4 { // each call gives back a bounded number of pages
		size()
	}
	if empty := size(); empty > full/10 {
		t.Fatalf("file is %d bytes after deleting everything (it was %d): free pages were kept", empty, full)
	}
}
