package run_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/journal"
	"github.com/lvfsck/lvfsck/report"
	"github.com/lvfsck/lvfsck/run"
	"github.com/lvfsck/lvfsck/run/runtest"
)

// fxImage is the base device as the capture's bdev_get_bdevs names it.
const fxImage = "/var/lib/spdk/disks/resurrection.img"

func TestOpen(t *testing.T) {
	srv := runtest.Target(t, "resurrection.after-restart")
	s, err := run.OpenSession(context.Background(), run.SessionConfig{Socket: srv.Path, Incarnation: "1@1",
		Timeout: 5 * time.Second, Journal: runtest.Journal(t), Log: zerolog.Nop()})
	require.NoError(t, err)
	defer s.Close()
	require.Equal(t, "1@1", s.Incarnation, "given, not asked")
	require.Equal(t, []string{fxImage}, s.Devices, "found from bdev_get_bdevs")
	require.Len(t, s.Live.Lvstores, 1)
	require.Equal(t, runtest.Lvstore, s.Live.Lvstores[0].UUID)

	s = runtest.Open(t, srv, runtest.Journal(t), "/dev/given")
	require.Equal(t, []string{"/dev/given"}, s.Devices, "given devices win")

	_, err = run.OpenSession(context.Background(), run.SessionConfig{Socket: filepath.Join(t.TempDir(), "none.sock"), Timeout: time.Second, Log: zerolog.Nop()})
	var f *report.Failure
	require.ErrorAs(t, err, &f)
	require.Equal(t, report.ExitOperational, f.Code)
	require.ErrorContains(t, err, "cannot reach spdk_tgt at ")
}

// A reload killed between bdev_aio_delete and bdev_aio_create is rolled
// forward only when applying, named with the exact call otherwise, and its
// mark closed once the lvstore is loaded again.
func TestFinishReloads(t *testing.T) {
	mark := func(t *testing.T, j *journal.Journal, detail string, aio *journal.AioBdev) {
		_, err := j.RecordEvent(journal.Event{Kind: run.EventReloadBegin, LvstoreUUID: runtest.Lvstore, Detail: detail, Aio: aio})
		require.NoError(t, err)
	}
	// good is the mark as the release before typed marks wrote it: the
	// parameters as JSON in the free text. typed is today's.
	const good = `reload of lvstore lvs-r: bdev_aio_delete aio0, then bdev_aio_create {"name":"aio0","filename":"/img","block_size":4096}`
	typed := &journal.AioBdev{Name: "aio0", Filename: "/img", BlockSize: 4096}
	const words = "reload of lvstore lvs-r: bdev_aio_delete aio0, then bdev_aio_create /img aio0 4096"
	for _, tc := range []struct {
		name      string
		moment    string // what the target holds now
		detail    string
		aio       *journal.AioBdev
		apply     bool
		recreated []string
		note      string
		creates   int
		stillOpen bool
	}{
		{"loaded again", "resurrection.after-restart", good, nil, false, nil, "", 0, false},
		{"named, not applied", "", good, nil, false, nil, "`lvfsck repair --yes` re-creates it (bdev_aio_create /img aio0 4096)", 0, true},
		{"applied", "", good, nil, true, []string{runtest.Lvstore}, "re-created it (bdev_aio_create /img aio0 4096)", 1, false},
		{"base bdev unknown", "", "reload of lvstore lvs-r", nil, true, nil, "its base bdev is unknown", 0, true},
		{"typed, named, not applied", "", words, typed, false, nil, "`lvfsck repair --yes` re-creates it (bdev_aio_create /img aio0 4096)", 0, true},
		{"typed, applied", "", words, typed, true, []string{runtest.Lvstore}, "re-created it (bdev_aio_create /img aio0 4096)", 1, false},
		{"typed wins over the text", "", good, &journal.AioBdev{Name: "aio0", Filename: "/img", BlockSize: 512}, true, []string{runtest.Lvstore}, "re-created it (bdev_aio_create /img aio0 512)", 1, false},
		{"typed, no file", "", words, &journal.AioBdev{Name: "aio0"}, true, nil, "its base bdev is unknown", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := runtest.Target(t, tc.moment)
			var mu sync.Mutex
			var got map[string]any
			srv.Handle("bdev_aio_create", func(_ context.Context, p json.RawMessage) (any, error) {
				mu.Lock()
				defer mu.Unlock()
				return "aio0", json.Unmarshal(p, &got)
			})
			j := runtest.Journal(t)
			mark(t, j, tc.detail, tc.aio)
			s := runtest.Open(t, srv, j)
			recreated, err := s.FinishReloads(context.Background(), tc.apply, "run-1")
			require.NoError(t, err)
			require.Equal(t, tc.recreated, recreated)
			require.Equal(t, tc.creates, srv.Calls("bdev_aio_create"))
			if tc.creates > 0 {
				mu.Lock()
				bs := float64(4096)
				if tc.aio != nil {
					bs = float64(tc.aio.BlockSize)
				}
				require.Equal(t, map[string]any{"name": "aio0", "filename": "/img", "block_size": bs}, got)
				mu.Unlock()
			}
			if tc.note != "" {
				require.Contains(t, strings.Join(s.Notes(), "\n"), tc.note)
			}
			open, err := run.OpenReloads(j)
			require.NoError(t, err)
			require.Equal(t, tc.stillOpen, len(open) == 1)
		})
	}
}

// Findings runs check's comparison: an unreadable device is a finding and
// an operational error, the history is the journal's.
func TestFindings(t *testing.T) {
	srv := runtest.Target(t, "resurrection.after-restart")
	s := runtest.Open(t, srv, runtest.Journal(t))
	fs, opErr, err := s.Findings(context.Background(), nil, "run-1")
	require.NoError(t, err)
	require.True(t, opErr)
	require.NotEmpty(t, fs)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err = s.Findings(ctx, nil, "run-1")
	var f *report.Failure
	require.ErrorAs(t, err, &f)
	require.Equal(t, report.ExitCancelled, f.Code)
}
