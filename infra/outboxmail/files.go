package outboxmail

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// writeAtomic writes data to path so that path holds either its old content or all of data,
// even across a crash or power loss: a temporary file in tmp (same file system, so the rename
// is atomic), fsync, rename, then fsync of path's folder so the rename itself is durable.
func writeAtomic(tmp, path string, data []byte) (err error) {
	f, err := os.CreateTemp(tmp, "*"+filepath.Ext(path))
	if err != nil {
		return fmt.Errorf("create temporary file: %w", err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", f.Name(), err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", f.Name(), err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("rename into %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("outboxmail: open folder %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("outboxmail: sync folder %s: %w", dir, err)
	}
	return nil
}

// readProgress reads the recipients a message was already sent to (one address a line);
// no file means none.
func readProgress(path string) (map[string]bool, error) {
	done := map[string]bool{}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return done, nil
	}
	if err != nil {
		return nil, fmt.Errorf("outboxmail: read progress %s: %w", path, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if r := strings.TrimSpace(sc.Text()); r != "" {
			done[r] = true
		}
	}
	return done, nil
}

// writeProgress records the recipients of all that are done, in the message's order.
func writeProgress(tmp, path string, all []string, done map[string]bool) error {
	var b strings.Builder
	for _, r := range all {
		if done[r] {
			b.WriteString(r)
			b.WriteByte('\n')
		}
	}
	if err := writeAtomic(tmp, path, []byte(b.String())); err != nil {
		return fmt.Errorf("outboxmail: record progress: %w", err)
	}
	return nil
}
