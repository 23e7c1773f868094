package journal

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/finding"
)

const crashDirEnv = "LVFSCK_JOURNAL_CRASH_DIR"

// TestHelperProcess is the child of TestCrashKill9: it writes runs into the
// journal until it is killed, printing each run id once FinishRun returned.
// It does nothing when run as an ordinary test.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("helper process for TestCrashKill9")
	}
	j, err := Open(dir, Options{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "child open: %v\n", err)
		os.Exit(3)
	}
	fmt.Println("ready")
	lvols := make([]LvolObservation, 50)
	for i := range lvols {
		lvols[i] = LvolObservation{UUID: fmt.Sprintf("%08x-crash", i), Name: fmt.Sprintf("v%d", i), SizeBytes: 1 << 20}
	}
	for n := 0; ; n++ {
		id, err := j.BeginRun(Run{Command: "check", Incarnation: "crash"})
		if err != nil {
			fmt.Fprintf(os.Stderr, "child begin: %v\n", err)
			os.Exit(4)
		}
		// Change some lvols every run so that observations write events.
		lvols[n%len(lvols)].SizeBytes += 1 << 20
		view := lvols[:len(lvols)-n%7]
		if _, err := j.ObserveLvols("crash", "lvs", time.Now(), view); err != nil {
			fmt.Fprintf(os.Stderr, "child observe: %v\n", err)
			os.Exit(5)
		}
		if _, err := j.UpsertFindings(time.Now(), []finding.Finding{{Code: "c", LvolUUID: view[n%len(view)].UUID}}); err != nil {
			fmt.Fprintf(os.Stderr, "child findings: %v\n", err)
			os.Exit(6)
		}
		if err := j.FinishRun(id, "ok", 0); err != nil {
			fmt.Fprintf(os.Stderr, "child finish: %v\n", err)
			os.Exit(7)
		}
		fmt.Println(id)
	}
}

// TestCrashKill9 kills a writing child with SIGKILL at random points and
// checks, each time, that the journal opens and holds every run the child
// reported finished.
func TestCrashKill9(t *testing.T) {
	if os.Getenv(crashDirEnv) != "" {
		t.Skip("in the child")
	}
	dir := t.TempDir()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	const iterations = 20
	finished := map[string]bool{}
	for it := range iterations {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		require.NoError(t, cmd.Start())
		lines := make(chan string, 1024)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		// Half the kills count from the start (they may land inside Open),
		// half from the moment the journal is open (inside writes).
		if it%2 == 1 {
			select {
			case l, ok := <-lines:
				require.True(t, ok, "child died before ready: %s", stderr.String())
				require.Equal(t, "ready", l)
			case <-time.After(20 * time.Second):
				t.Fatal("child never got ready")
			}
		}
		time.Sleep(time.Duration(10+rng.IntN(191)) * time.Millisecond)
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		var reported []string
		for l := range lines {
			if l != "ready" && !strings.HasPrefix(l, "PASS") && !strings.HasPrefix(l, "ok") {
				reported = append(reported, l)
			}
		}
		werr := cmd.Wait()
		require.Error(t, werr, "the child only ends by the kill; stderr: %s", stderr.String())
		require.NotContains(t, stderr.String(), "child ", "the child failed on its own")
		for _, id := range reported {
			finished[id] = true
		}

		j, err := Open(dir, Options{})
		require.NoError(t, err, "iteration %d: the journal must open after SIGKILL", it)
		runs, err := j.Runs()
		require.NoError(t, err)
		have := map[string]bool{}
		unfinished := 0
		for _, r := range runs {
			if r.Unfinished() {
				unfinished++
			} else {
				have[r.ID] = true
			}
		}
		// Each child had at most one run in flight when it was killed, and
		// that run stays visible as unfinished.
		require.LessOrEqual(t, unfinished, it+1, "iteration %d", it)
		for id := range finished {
			require.True(t, have[id], "iteration %d: run %s was reported finished and is lost", it, id)
		}
		_, err = j.LastState("crash", "lvs")
		require.NoError(t, err)
		_, err = j.Timeline(time.Time{})
		require.NoError(t, err)
		_, err = j.Findings()
		require.NoError(t, err)
		require.NoError(t, j.Close())
	}
	t.Logf("%d runs reported finished across %d kills", len(finished), iterations)
	require.NotEmpty(t, finished, "no child ever finished a run: the test proved nothing")
}

// A process killed inside badger's Open can leave an empty memtable WAL;
// badger alone then refuses to open the directory. Found by TestCrashKill9.
func TestOpenAfterEmptyWAL(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir, Options{})
	require.NoError(t, err)
	id, err := j.BeginRun(Run{Command: "check"})
	require.NoError(t, err)
	require.NoError(t, j.FinishRun(id, "ok", 0))
	require.NoError(t, j.Close())
	for _, name := range []string{"00099.mem", "000099.vlog"} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, name)
			require.NoError(t, os.WriteFile(p, nil, 0o600))
			// The premise: badger by itself cannot open this directory.
			db, err := badger.Open(badgerOptions(dir, nopLogger()))
			if err == nil {
				_ = db.Close()
				t.Fatalf("badger now opens a directory with an empty %s: removeEmptyWALs may be obsolete", name)
			}
			j, err := Open(dir, Options{})
			require.NoError(t, err)
			defer j.Close()
			r, err := j.GetRun(id)
			require.NoError(t, err)
			require.False(t, r.Unfinished())
		})
	}
}
