package main

import (
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/checkpoint"
	"github.com/sluicehq/sluice/internal/runtime"
)

const savepointUsage = `usage:
  sluice savepoint --state-dir DIR [--timeout 60s]   ask the pipeline running on DIR for a savepoint; prints its folder
  sluice savepoint list --state-dir DIR              list checkpoints and savepoints
  sluice savepoint delete --state-dir DIR ID         delete savepoint ID
`

// runSavepoint talks to a running pipeline through its state directory: it drops a request file
// that the pipeline's checkpoint coordinator answers with the savepoint's folder.
func runSavepoint(args []string, stdout, stderr io.Writer) int {
	sub := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("sluice savepoint", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("state-dir", "", "the pipeline's --state-dir")
	timeout := fs.Duration("timeout", time.Minute, "how long to wait for the running pipeline")
	if err := fs.Parse(args); err != nil || *dir == "" {
		fmt.Fprint(stderr, savepointUsage)
		return exitUsage
	}
	switch sub {
	case "":
		return requestSavepoint(*dir, *timeout, stdout, stderr)
	case "list":
		return listCheckpoints(*dir, stdout, stderr)
	case "delete":
		if fs.NArg() != 1 {
			fmt.Fprint(stderr, savepointUsage)
			return exitUsage
		}
		id, err := strconv.ParseInt(fs.Arg(0), 10, 64)
		if err != nil {
			fmt.Fprintf(stderr, "sluice savepoint delete: bad id %q\n", fs.Arg(0))
			return exitUsage
		}
		st, err := checkpoint.Open(*dir, checkpoint.Options{})
		if err == nil {
			err = st.DeleteSavepoint(id)
		}
		if err != nil {
			fmt.Fprintf(stderr, "sluice savepoint delete: %v\n", err)
			return exitFailed
		}
		return exitOK
	}
	fmt.Fprint(stderr, savepointUsage)
	return exitUsage
}

func requestSavepoint(dir string, timeout time.Duration, stdout, stderr io.Writer) int {
	reqDir := filepath.Join(dir, runtime.RequestDir)
	if err := os.MkdirAll(reqDir, 0o755); err != nil {
		fmt.Fprintf(stderr, "sluice savepoint: %v\n", err)
		return exitFailed
	}
	var nonce [8]byte
	_, _ = rand.Read(nonce[:])
	base := filepath.Join(reqDir, hex.EncodeToString(nonce[:]))
	if err := os.WriteFile(base+".savepoint", nil, 0o644); err != nil {
		fmt.Fprintf(stderr, "sluice savepoint: %v\n", err)
		return exitFailed
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(base + ".done"); err == nil {
			os.Remove(base + ".done")
			fmt.Fprint(stdout, string(b))
			return exitOK
		}
		if b, err := os.ReadFile(base + ".failed"); err == nil {
			os.Remove(base + ".failed")
			fmt.Fprintf(stderr, "sluice savepoint: the pipeline could not take it: %s", b)
			return exitFailed
		}
		time.Sleep(50 * time.Millisecond)
	}
	os.Remove(base + ".savepoint")
	fmt.Fprintf(stderr, "sluice savepoint: no running pipeline answered within %v (is one running with --state-dir %s?)\n", timeout, dir)
	return exitFailed
}

func listCheckpoints(dir string, stdout, stderr io.Writer) int {
	st, err := checkpoint.Open(dir, checkpoint.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "sluice savepoint list: %v\n", err)
		return exitFailed
	}
	infos, err := st.List()
	if err != nil {
		fmt.Fprintf(stderr, "sluice savepoint list: %v\n", err)
		return exitFailed
	}
	for _, in := range infos {
		fmt.Fprintf(stdout, "%d\t%s\t%s\tcomplete=%v\n", in.ID, in.Kind, in.Dir, in.Complete)
	}
	return exitOK
}
