package watch

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/journal"
)

// TestStoreReleases: the journal is free for another writer once the
// watch has been idle for its idle time, and not before.
func TestStoreReleases(t *testing.T) {
	dir := t.TempDir()
	opens := 0
	s := &store{idle: 100 * time.Millisecond, open: func(context.Context) (*journal.Journal, error) {
		opens++
		return journal.Open(dir, journal.Options{})
	}}
	defer s.Close()
	use := func() {
		require.NoError(t, s.use(context.Background(), func(j *journal.Journal) error {
			_, err := j.RecordNotify(journal.NotifyRecord{Incarnation: "b/1/1", ID: uint64(opens), Type: journal.NotifyRegister, LvolUUID: "u"})
			return err
		}))
	}
	use()
	use()
	require.Equal(t, 1, opens, "a burst opens once")
	_, err := journal.Open(dir, journal.Options{})
	require.ErrorIs(t, err, journal.ErrLocked, "held while in use")

	require.Eventually(t, func() bool {
		j, err := journal.Open(dir, journal.Options{})
		if err != nil {
			return false
		}
		require.NoError(t, j.Close())
		return true
	}, 2*time.Second, 20*time.Millisecond, "released after the idle time")
	use()
	require.Equal(t, 2, opens, "opened again on demand")
	require.Equal(t, dir, s.Dir())
}
