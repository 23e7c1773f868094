package run

import (
	"io/fs"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/journal"
)

// TestJournalAdvice: each way the journal cannot be opened says what to do.
func TestJournalAdvice(t *testing.T) {
	dir := "/var/lib/lvfsck"
	for _, tc := range []struct {
		name string
		err  error
		u    JournalUse
		want []string
	}{
		{"permission", &fs.PathError{Op: "mkdir", Path: dir, Err: syscall.EACCES}, JournalUse{}, []string{"permission denied", "--state-dir", StateDirEnv}},
		{"read-only fs", &fs.PathError{Op: "open", Path: dir, Err: syscall.EROFS}, JournalUse{}, []string{"--state-dir", StateDirEnv}},
		{"locked", &journal.LockedError{Dir: dir, Holder: journal.Holder{PID: 4242, Command: "check"}}, JournalUse{}, []string{"pid 4242 (lvfsck check)", "--wait-lock"}},
		{"damaged", &journal.CorruptError{Dir: dir, Damage: []journal.Damage{{File: "000002.sst", Problem: "block 0: checksum"}}}, JournalUse{}, []string{"000002.sst", "lvfsck journal verify", "lvfsck journal reset"}},
		{"missing, reading", &fs.PathError{Op: "stat", Path: dir, Err: syscall.ENOENT}, JournalUse{ReadOnly: true}, []string{"no journal in " + dir, "--state-dir"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := journalAdvice(tc.err, dir, tc.u).Error()
			for _, w := range tc.want {
				require.Contains(t, msg, w)
			}
		})
	}
}
