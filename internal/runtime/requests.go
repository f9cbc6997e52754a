package runtime

import (
	"os"
	"path/filepath"
	"strings"
)

// RequestDir is the folder, inside a checkpoint directory, where other processes ask a running
// pipeline for a savepoint (sluice savepoint): a file NAME.savepoint is answered by NAME.done
// holding the savepoint's folder, or NAME.failed holding the reason.
const RequestDir = "requests"

// pollRequestFiles turns request files into savepoint requests; the answers are written when the
// savepoint is done.
func (c *coordinator) pollRequestFiles() {
	dir := filepath.Join(c.cfg.Store.Dir(), RequestDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".savepoint")
		if !ok {
			continue
		}
		req := filepath.Join(dir, e.Name())
		if err := os.Remove(req); err != nil {
			continue
		}
		base := filepath.Join(dir, name)
		reply := make(chan savepointResult, 1)
		c.waiting = append(c.waiting, savepointRequest{reply: reply})
		go func() {
			res := <-reply
			if res.Err != nil {
				_ = writeAtomic(base+".failed", res.Err.Error()+"\n")
				return
			}
			_ = writeAtomic(base+".done", res.Path+"\n")
		}()
	}
}

func writeAtomic(path, content string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
