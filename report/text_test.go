package report

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/finding"
)

func TestHeadline(t *testing.T) {
	many := cleanSummary()
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		many.Findings = append(many.Findings, finding.Finding{Code: "x", Severity: finding.Warning, Lvstore: "lvs-" + n})
	}
	infos := cleanSummary()
	infos.Findings = []finding.Finding{{Code: "i", Severity: finding.Info, Lvstore: "lvs-r"}, {Code: "i", Severity: finding.Info}}
	journalOnly := cleanSummary()
	journalOnly.Findings = []finding.Finding{{Code: "open-delete-intent", Severity: finding.Warning}}
	failedWithErrors := pendingSummary()
	failedWithErrors.Exit = ExitUncorrected | ExitOperational
	twoResurrected := cleanSummary()
	twoResurrected.Command = ""
	twoResurrected.Findings = []finding.Finding{
		{Code: "resurrected", Severity: finding.Error, LvstoreUUID: lvsR},
		{Code: "resurrected", Severity: finding.Error, LvstoreUUID: lvsR},
	}

	rpcOnly := cleanSummary()
	rpcOnly.Findings = []finding.Finding{
		{Code: "phantom", Severity: finding.Error, LvstoreUUID: lvsR},
		{Code: "clone-lost-base-snapshot", Severity: finding.Error, LvstoreUUID: lvsR},
		{Code: "clone-lost-base-snapshot", Severity: finding.Error, LvstoreUUID: lvsR},
	}

	for _, tc := range []struct {
		name string
		s    Summary
		want string
	}{
		{"rpc only", rpcOnly, "lvfsck check: 3 errors on 1 lvstore (lvs-r) — 2 clones without their base snapshot, 1 phantom lvol"},
		{"clean", cleanSummary(), "lvfsck check: clean — 1 lvstore, 4 lvols"},
		{"pending", pendingSummary(), "lvfsck check: 2 errors, 1 warning on 1 lvstore (lvs-r) — 1 pending resurrection"},
		{"hostile", hostileSummary(), "lvfsck check: 2 critical, 1 error, 1 warning on 2 lvstores (lvs-r, lvs-gone) — spdk_tgt will crash at its next load, 1 lvstore will not load"},
		{"infos only", infos, "lvfsck check: clean — 1 lvstore, 4 lvols; 2 info"},
		{"journal only", journalOnly, "lvfsck check: 1 warning"},
		{"many lvstores", many, "lvfsck check: 5 warnings on 5 lvstores (lvs-a, lvs-b, lvs-c, +2 more)"},
		{"incomplete", incompleteSummary(), "lvfsck check: incomplete (exit 8, operational error)"},
		{"incomplete but clean so far", func() Summary { s := cleanSummary(); s.Exit = ExitOperational; return s }(), "lvfsck check: incomplete (exit 8, operational error) — 1 lvstore, 4 lvols"},
		{"cancelled", func() Summary { s := cleanSummary(); s.Exit = ExitCancelled; return s }(), "lvfsck check: incomplete (exit 32, cancelled) — 1 lvstore, 4 lvols"},
		{"incomplete with errors", failedWithErrors, "lvfsck check: incomplete (exit 12, errors left uncorrected, operational error); 2 errors, 1 warning on 1 lvstore (lvs-r) — 1 pending resurrection"},
		{"no command", twoResurrected, "lvfsck: 2 errors on 1 lvstore (lvs-r) — 2 resurrected lvols"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, Headline(tc.s))
			var buf bytes.Buffer
			require.NoError(t, WriteText(&buf, tc.s, TextOptions{}))
			first, _, _ := strings.Cut(buf.String(), "\n")
			require.Equal(t, tc.want, first, "the report starts with the headline")
		})
	}
}

func TestWriteTextIsDeterministicAndPure(t *testing.T) {
	s := hostileSummary()
	s.Findings = append(s.Findings, pendingSummary().Findings...)
	orig := slices.Clone(s.Findings)
	var want bytes.Buffer
	require.NoError(t, WriteText(&want, s, TextOptions{}))
	require.Equal(t, orig, s.Findings, "the caller's slice is not reordered")

	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		rng.Shuffle(len(s.Findings), func(i, j int) { s.Findings[i], s.Findings[j] = s.Findings[j], s.Findings[i] })
		rng.Shuffle(len(s.Lvstores), func(i, j int) { s.Lvstores[i], s.Lvstores[j] = s.Lvstores[j], s.Lvstores[i] })
		var got bytes.Buffer
		require.NoError(t, WriteText(&got, s, TextOptions{}))
		require.Equal(t, want.String(), got.String())
	}
}

func TestWriteTextNoEscapesWithoutColor(t *testing.T) {
	var plain, color bytes.Buffer
	require.NoError(t, WriteText(&plain, hostileSummary(), TextOptions{}))
	require.NoError(t, WriteText(&color, hostileSummary(), TextOptions{Color: true}))
	requireTerminalSafe(t, plain.String())
	require.Contains(t, color.String(), ansiRed)
	// Color adds SGR sequences and nothing else.
	require.Equal(t, plain.String(), stripSGR(color.String()))
}

// requireTerminalSafe fails unless s holds only printable text and newlines.
func requireTerminalSafe(t *testing.T, s string) {
	t.Helper()
	require.True(t, isPlainUTF8(strings.ReplaceAll(s, "\n", " ")), "control or format characters in %q", s)
}

func stripSGR(s string) string {
	for _, c := range []string{ansiReset, ansiBold, ansiDim, ansiRed, ansiGreen, ansiYellow, ansiMagenta, ansiCyan} {
		s = strings.ReplaceAll(s, c, "")
	}
	return s
}

func TestSafeText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"lvs-r/snap-x", "lvs-r/snap-x"},
		{"naïve ünïcode ✓", "naïve ünïcode ✓"},
		{"esc\x1b[2Jx", `esc\x1b[2Jx`},
		{"bell\a", `bell\x07`},
		{"tab\tnl\ncr\r", `tab\tnl\ncr\r`},
		{"bad\xffutf8", `bad\xffutf8`},
		{"rlo\u202eexe.txt", `rlo\u202eexe.txt`},
		{"c1\u009bx", `c1\u009bx`},
		{"del\x7f", `del\x7f`},
		{"", ""},
	} {
		require.Equal(t, tc.want, safeText(tc.in), "%q", tc.in)
	}
	long := safeText(strings.Repeat("a", 10000))
	require.Equal(t, maxTextField+len("…(+7952 bytes)"), len(long))
	require.True(t, strings.HasSuffix(long, "…(+7952 bytes)"))
	require.LessOrEqual(t, len(safeText(strings.Repeat("\x00", 10000))), maxTextField+32)
}

func TestLinesBounded(t *testing.T) {
	require.Equal(t, []string{"a", "", `b\x1b`}, lines("a\n\nb\x1b\n\n\n"), "trailing newlines dropped, inner blank lines kept")
	got := lines(strings.Repeat("x\n", 1000))
	require.Len(t, got, maxTextLines+1)
	require.Equal(t, "…(+936 lines)", got[maxTextLines])
}

func TestWriteTextHidesBelowMinSeverity(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, WriteText(&buf, pendingSummary(), TextOptions{MinSeverity: finding.Error}))
	out := buf.String()
	require.Contains(t, out, "pending-resurrection")
	require.NotContains(t, out, "attr-mismatch")
	require.NotContains(t, out, "stale-used-page-mask")
	require.Contains(t, out, "(2 findings below error not listed)")
	require.Contains(t, out, "2 errors, 1 warning, 1 info", "hidden findings are still counted")
}

func TestWriteTextFindingFields(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, WriteText(&buf, pendingSummary(), TextOptions{}))
	out := buf.String()
	for _, want := range []string{
		"lvstore lvs-r  uuid " + lvsR + "  3 lvols  (disk+live) — 2 errors, 1 warning, 1 info",
		"    pending-resurrection  lvol snap-x  uuid " + snapX + "  blob 0x100000003  page 3\n",
		"      next load: spdk_tgt loads it normally\n",
		"        disk:    blob 0x100000003 chain [3] crc ok, name=snap-x\n",
		"        journal: listed at",
		"      repair: restart spdk_tgt",
		"      repair: none known to lvfsck\n", // a warning without a repair says so
		"exit         4 (errors left uncorrected)",
		"scanned      128 MiB in 812ms",
	} {
		require.Contains(t, out, want)
	}
	// Evidence keys are sorted.
	require.Less(t, strings.Index(out, "disk:    blob"), strings.Index(out, "journal: listed"))
	require.Less(t, strings.Index(out, "journal: listed"), strings.Index(out, "live:    absent"))
	// Most severe first.
	require.Less(t, strings.Index(out, "ERROR (2)"), strings.Index(out, "WARNING (1)"))
	require.Less(t, strings.Index(out, "WARNING (1)"), strings.Index(out, "INFO (1)"))
}

type failWriter struct{ n int }

var errDiskFull = errors.New("disk full")

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n <= 0 {
		return 0, errDiskFull
	}
	w.n--
	return len(p), nil
}

func TestWritersReportWriteErrors(t *testing.T) {
	s := pendingSummary()
	require.ErrorIs(t, WriteText(&failWriter{}, s, TextOptions{}), errDiskFull)
	require.ErrorIs(t, WriteJSON(&failWriter{}, s), errDiskFull)
	require.ErrorIs(t, WriteProm(&failWriter{}, s, t0), errDiskFull)
}

// Findings and lvstores are listed in natural name order: vol9 before vol10.
func TestWriteTextNaturalOrder(t *testing.T) {
	s := cleanSummary()
	s.Lvstores = []LvstoreSummary{{Name: "lvs10", UUID: "u10"}, {Name: "lvs9", UUID: "u9"}}
	for _, n := range []string{"vol10", "vol9", "vol100"} {
		s.Findings = append(s.Findings, finding.Finding{Code: "phantom", Severity: finding.Error, Lvstore: "lvs9", LvstoreUUID: "u9", LvolName: n})
	}
	s.Exit = ExitUncorrected
	var b strings.Builder
	require.NoError(t, WriteText(&b, s, TextOptions{}))
	out := b.String()
	last := -1
	for _, w := range []string{"lvstore lvs9", "lvol vol9\n", "lvol vol10\n", "lvol vol100\n", "lvstore lvs10"} {
		i := strings.Index(out, w)
		require.Greater(t, i, last, "%q out of order:\n%s", w, out)
		last = i
	}
}
