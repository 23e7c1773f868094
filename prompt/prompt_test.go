package prompt

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/repair"
)

func plan(stores ...string) repair.Plan {
	var p repair.Plan
	for _, s := range stores {
		p.Steps = append(p.Steps, repair.Step{Action: repair.ActionDelete, Lvstore: s})
	}
	// A step that changes nothing does not count as a store to name.
	p.Steps = append(p.Steps, repair.Step{Action: repair.ActionAdvice, Lvstore: "other"})
	return p
}

func TestConfirm(t *testing.T) {
	for _, tc := range []struct {
		name   string
		stores []string
		input  string
		ok     bool
		err    bool
		prompt string
	}{
		{"the lvstore's name", []string{"lvs-r", "lvs-r"}, "lvs-r\n", true, false, "Type the lvstore name (lvs-r)"},
		{"yes", []string{"lvs-r"}, " yes \n", true, false, "Type the lvstore name (lvs-r)"},
		{"another name", []string{"lvs-r"}, "lvs-x\n", false, false, ""},
		{"two stores: only yes", []string{"a", "b"}, "a\n", false, false, `Type "yes" to apply this plan: `},
		{"two stores, yes", []string{"a", "b"}, "yes\n", true, false, ""},
		{"end of input", []string{"a"}, "", false, true, ""},
		{"an endless line is cut, and is no word", []string{"a"}, strings.Repeat("y", 10000) + "\nyes\n", false, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w strings.Builder
			ok, err := Confirm(context.Background(), &w, strings.NewReader(tc.input), plan(tc.stores...))
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.err, err != nil, "%v", err)
			require.True(t, strings.HasPrefix(w.String(), "\n"))
			require.Contains(t, w.String(), tc.prompt)
		})
	}
}

// Ctrl-C (the end of ctx) ends the wait for an answer that never comes.
func TestConfirmCancelled(t *testing.T) {
	r, w := io.Pipe()
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	ok, err := Confirm(ctx, io.Discard, r, plan("a"))
	require.False(t, ok)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}
