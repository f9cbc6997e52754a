package file

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func lines(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\n", " "))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestExactlyOnceRecoverCases kills the sink (drops it without Close) at the interesting moments
// and recovers a new one from the last completed checkpoint's state.
func TestExactlyOnceRecoverCases(t *testing.T) {
	cases := map[string]struct {
		run  func(t *testing.T, s *ExactlyOnceSink[int]) []byte // returns the completed checkpoint's state
		want string
	}{
		"crash before commit": {func(t *testing.T, s *ExactlyOnceSink[int]) []byte {
			must(t, s.Write(1))
			st, err := s.PreCommit(1)
			must(t, err)
			must(t, s.Write(2)) // after the barrier: must vanish
			must(t, s.Flush())
			return st
		}, "1"},
		"crash after commit, later writes dropped": {func(t *testing.T, s *ExactlyOnceSink[int]) []byte {
			must(t, s.Write(1))
			st, err := s.PreCommit(1)
			must(t, err)
			must(t, s.Commit(1))
			must(t, s.Write(2))
			_, err = s.PreCommit(2) // checkpoint 2 never completes
			must(t, err)
			must(t, s.Commit(2)) // even if it was (wrongly) appended, recovery cuts it back
			return st
		}, "1"},
		"commit of an earlier checkpoint lagging behind": {func(t *testing.T, s *ExactlyOnceSink[int]) []byte {
			must(t, s.Write(1))
			_, err := s.PreCommit(1)
			must(t, err)
			must(t, s.Write(2))
			st2, err := s.PreCommit(2) // lists parts 1 and 2: commit 1 has not run yet
			must(t, err)
			must(t, s.Commit(1)) // part 1 appended and deleted; crash before commit 2
			return st2
		}, "1 2"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out", "alerts.jsonl")
			s := ExactlyOnceJSONLines[int](path)
			must(t, s.Recover(nil))
			st := c.run(t, s)
			s2 := ExactlyOnceJSONLines[int](path)
			must(t, s2.Recover(st))
			if got := lines(t, path); got != c.want {
				t.Fatalf("after recovery the file holds %q, want %q", got, c.want)
			}
			must(t, s2.Write(3))
			must(t, s2.Close())
			if got := lines(t, path); got != c.want+" 3" {
				t.Fatalf("after the resumed run the file holds %q, want %q", got, c.want+" 3")
			}
			if ids, _ := parts(path + ".pending"); len(ids) != 0 {
				t.Fatalf("sealed parts left behind: %v", ids)
			}
		})
	}
}

// TestExactlyOnceTornAppend: a crash in the middle of appending a part leaves half of it in the
// file; recovery appends exactly the missing rest.
func TestExactlyOnceTornAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	s := ExactlyOnceJSONLines[string](path)
	must(t, s.Recover(nil))
	must(t, s.Write("aaaa"))
	must(t, s.Write("bbbb"))
	st, err := s.PreCommit(7)
	must(t, err)
	part, err := os.ReadFile(s.partPath(7))
	must(t, err)
	must(t, os.WriteFile(path, part[:5], 0o644)) // the torn append
	s2 := ExactlyOnceJSONLines[string](path)
	must(t, s2.Recover(st))
	if got := lines(t, path); got != `"aaaa" "bbbb"` {
		t.Fatalf("got %q", got)
	}
}

func TestExactlyOnceWithoutCheckpoints(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plain.jsonl")
	must(t, os.WriteFile(path, []byte("stale\n"), 0o644))
	s := ExactlyOnceJSONLines[int](path)
	for i := 1; i <= 3; i++ {
		must(t, s.Write(i))
	}
	must(t, s.Close())
	if got := lines(t, path); got != "1 2 3" {
		t.Fatalf("got %q: a run without checkpoints starts the file afresh and completes it on Close", got)
	}
}
