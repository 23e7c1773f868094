package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSourceDateEpoch(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Time
		err  bool
	}{
		{"", time.Unix(0, 0), false},
		{"1700000000", time.Unix(1700000000, 0), false},
		{"-1", time.Time{}, true},
		{"yesterday", time.Time{}, true},
		{"1.5", time.Time{}, true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := sourceDateEpoch(tc.in)
			if tc.err {
				require.ErrorContains(t, err, "SOURCE_DATE_EPOCH")
				return
			}
			require.NoError(t, err)
			require.True(t, tc.want.Equal(got), "got %s", got)
		})
	}
}

func TestRunRefusesBadArguments(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no output", []string{"-version", "v1", "amd64=x"}, "-o FILE is required"},
		{"not ARCH=BINARY", []string{"-o", t.TempDir() + "/x.tar", "-version", "v1", "amd64"}, `"amd64": want ARCH=BINARY`},
		{"empty arch", []string{"-o", t.TempDir() + "/x.tar", "-version", "v1", "=bin"}, "want ARCH=BINARY"},
		{"no binaries", []string{"-o", t.TempDir() + "/x.tar", "-version", "v1"}, "no binaries"},
		{"unknown flag", []string{"-frobnicate"}, "flag provided but not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorContains(t, run(tc.args), tc.want)
		})
	}
}
