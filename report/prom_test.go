package report

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/finding"
)

// Line grammar of the Prometheus text format (0.0.4), as much of it as
// lvfsck writes: comments are HELP or TYPE, samples carry no timestamp.
var (
	promHelp   = regexp.MustCompile(`^# HELP (lvfsck_[a-zA-Z0-9_:]*) ([^\n\\]|\\[\\n])+$`)
	promType   = regexp.MustCompile(`^# TYPE (lvfsck_[a-zA-Z0-9_:]*) (gauge|counter)$`)
	promSample = regexp.MustCompile(`^(lvfsck_[a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$`)
	promLabel  = regexp.MustCompile(`^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)`)
)

// checkPromText fails t unless text parses as the exposition format with
// every family announced once, before its samples, and no duplicate series.
func checkPromText(t *testing.T, text string) {
	t.Helper()
	require.NoError(t, validateProm(text))
}

func validateProm(text string) error {
	if !utf8.ValidString(text) {
		return errors.New("not valid UTF-8")
	}
	if !strings.HasSuffix(text, "\n") {
		return errors.New("no final newline")
	}
	helped, typed := map[string]bool{}, map[string]bool{}
	series := map[string]bool{}
	current := ""
	done := map[string]bool{}
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		fail := func(why string) error {
			return errors.New("line " + strconv.Itoa(i+1) + ": " + why + ": " + strconv.Quote(line))
		}
		switch {
		case strings.HasPrefix(line, "# HELP "):
			m := promHelp.FindStringSubmatch(line)
			if m == nil || helped[m[1]] {
				return fail("bad or repeated HELP")
			}
			if current != "" && current != m[1] {
				done[current] = true
			}
			helped[m[1]], current = true, m[1]
		case strings.HasPrefix(line, "# TYPE "):
			m := promType.FindStringSubmatch(line)
			if m == nil || typed[m[1]] || m[1] != current {
				return fail("bad, repeated or misplaced TYPE")
			}
			typed[m[1]] = true
		case strings.HasPrefix(line, "#") || line == "":
			return fail("unexpected comment or blank line")
		default:
			m := promSample.FindStringSubmatch(line)
			if m == nil {
				return fail("not a sample")
			}
			name := m[1]
			if !typed[name] || name != current || done[name] {
				return fail("sample outside its family")
			}
			labels := m[3]
			seen := map[string]bool{}
			for labels != "" {
				l := promLabel.FindStringSubmatch(labels)
				if l == nil {
					return fail("bad label set")
				}
				if seen[l[1]] {
					return fail("repeated label")
				}
				seen[l[1]] = true
				labels = labels[len(l[0]):]
			}
			if m[2] != "" && strings.HasSuffix(m[3], ",") {
				return fail("trailing comma")
			}
			if _, err := strconv.ParseFloat(m[4], 64); err != nil {
				return fail("bad value")
			}
			key := name + m[2]
			if series[key] {
				return fail("duplicate series")
			}
			series[key] = true
		}
	}
	return nil
}

func TestValidatePromRejects(t *testing.T) {
	// The validator must be able to fail, or the golden tests prove nothing.
	ok := "# HELP lvfsck_x help\n# TYPE lvfsck_x gauge\nlvfsck_x{a=\"b\"} 1\n"
	require.NoError(t, validateProm(ok))
	for name, bad := range map[string]string{
		"timestamp":     strings.Replace(ok, "} 1", "} 1 1764151200000", 1),
		"no type":       "# HELP lvfsck_x help\nlvfsck_x 1\n",
		"unescaped":     strings.Replace(ok, `"b"`, `"b"c"`, 1),
		"newline in":    strings.Replace(ok, `"b"`, "\"b\nc\"", 1),
		"duplicate":     ok + "lvfsck_x{a=\"b\"} 2\n",
		"bad value":     strings.Replace(ok, "} 1", "} one", 1),
		"no newline":    strings.TrimSuffix(ok, "\n"),
		"blank":         ok + "\n",
		"other prefix":  strings.ReplaceAll(ok, "lvfsck_x", "node_x"),
		"trailing comm": strings.Replace(ok, `"b"}`, `"b",}`, 1),
		"repeat label":  strings.Replace(ok, `a="b"`, `a="b",a="c"`, 1),
		"split family":  ok + "# HELP lvfsck_y h\n# TYPE lvfsck_y gauge\nlvfsck_y 1\nlvfsck_x{a=\"c\"} 1\n",
		"invalid utf8":  strings.Replace(ok, `"b"`, "\"\xff\"", 1),
	} {
		require.Error(t, validateProm(bad), name)
	}
}

func promLines(t *testing.T, s Summary, last time.Time) []string {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, WriteProm(&buf, s, last))
	checkPromText(t, buf.String())
	return strings.Split(buf.String(), "\n")
}

func TestPromEscapesAndBoundsLabels(t *testing.T) {
	s := cleanSummary()
	hostile := "a\\b\"c\nd\xffe" + strings.Repeat("x", 500)
	s.Lvstores = append(s.Lvstores, LvstoreSummary{Name: "bad", UUID: hostile, Lvols: 1})
	s.Findings = []finding.Finding{{Code: "x\"y", Severity: finding.Error, LvstoreUUID: hostile}}
	lines := promLines(t, s, time.Time{})
	var found bool
	for _, l := range lines {
		if strings.HasPrefix(l, "lvfsck_findings{") {
			found = true
			require.Contains(t, l, `lvstore="a\\b\"c\nd`+"\uFFFD"+`e`)
			require.Contains(t, l, `code="x\"y"`)
			require.Less(t, len(l), 2*maxLabelValue+100, "label values are bounded")
		}
	}
	require.True(t, found)
}

func TestPromEverySeverityPerLvstore(t *testing.T) {
	s := pendingSummary()
	s.Lvstores = append(s.Lvstores, LvstoreSummary{Name: "lvs-a", UUID: lvsOther, Lvols: 2})
	lines := promLines(t, s, time.Time{})
	for _, u := range []string{lvsR, lvsOther} {
		for _, sev := range []string{"critical", "error", "warning", "info"} {
			prefix := `lvfsck_lvstore_findings{lvstore="` + u + `",severity="` + sev + `"} `
			require.True(t, hasPrefix(lines, prefix), prefix)
		}
	}
	require.Contains(t, lines, `lvfsck_lvstore_findings{lvstore="`+lvsOther+`",severity="error"} 0`)
	require.Contains(t, lines, `lvfsck_lvstore_findings{lvstore="`+lvsR+`",severity="error"} 2`)
	require.Contains(t, lines, `lvfsck_findings{lvstore="`+lvsR+`",code="pending-resurrection",severity="error"} 1`)
	require.Contains(t, lines, `lvfsck_lvstore_lvols{lvstore="`+lvsOther+`"} 2`)
	for _, l := range lines {
		require.NotContains(t, l, snapX, "never labelled by lvol")
		require.NotContains(t, l, "0x100000003", "never labelled by blob")
	}
}

func TestPromResolvesLvstoreByName(t *testing.T) {
	s := cleanSummary()
	s.Findings = []finding.Finding{{Code: "c", Severity: finding.Warning, Lvstore: "lvs-r"}}
	lines := promLines(t, s, time.Time{})
	require.Contains(t, lines, `lvfsck_findings{lvstore="`+lvsR+`",code="c",severity="warning"} 1`)
}

func hasPrefix(lines []string, p string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	return false
}

func TestPromTimestamps(t *testing.T) {
	earlier := t0.Add(-2 * time.Hour)
	finished := t0.Add(1234 * time.Millisecond)
	for _, tc := range []struct {
		name        string
		exit        int
		finished    time.Time
		lastSuccess time.Time
		wantRun     string // "" = no sample
		wantSuccess string
	}{
		{"completed run is the last success", ExitUncorrected, finished, earlier, unixSeconds(finished), unixSeconds(finished)},
		{"failed run keeps the journal's", ExitOperational, finished, earlier, unixSeconds(finished), unixSeconds(earlier)},
		{"never succeeded is zero", ExitOperational, finished, time.Time{}, unixSeconds(finished), "0"},
		{"no finish time uses the start", ExitOK, time.Time{}, time.Time{}, unixSeconds(t0), unixSeconds(t0)},
		{"a later success is kept", ExitOK, finished, finished.Add(time.Minute), unixSeconds(finished), unixSeconds(finished.Add(time.Minute))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := cleanSummary()
			s.Exit, s.Finished = tc.exit, tc.finished
			lines := promLines(t, s, tc.lastSuccess)
			require.Contains(t, lines, "lvfsck_last_run_timestamp_seconds "+tc.wantRun)
			require.Contains(t, lines, "lvfsck_last_success_timestamp_seconds "+tc.wantSuccess)
			require.Contains(t, lines, "lvfsck_exit_code "+strconv.Itoa(tc.exit))
		})
	}
	require.Equal(t, "1764151200.123", unixSeconds(time.Date(2025, 11, 26, 10, 0, 0, 123456789, time.UTC)))
	require.Equal(t, "1764151200", unixSeconds(time.Date(2025, 11, 26, 10, 0, 0, 0, time.UTC)))
}

func TestWritePromFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "lvfsck.prom")
	require.NoError(t, os.WriteFile(path, []byte("old\n"), 0o600))

	s := pendingSummary()
	require.NoError(t, WritePromFile(path, s, t0))
	var want bytes.Buffer
	require.NoError(t, WriteProm(&want, s, t0))
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, want.String(), string(got))
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o644), st.Mode().Perm())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file left behind")
}

func TestWritePromFileFailures(t *testing.T) {
	dir := t.TempDir()
	err := WritePromFile(filepath.Join(dir, "missing", "x.prom"), cleanSummary(), t0)
	require.ErrorIs(t, err, os.ErrNotExist)

	require.ErrorIs(t, WritePromFile(dir+string(filepath.Separator), cleanSummary(), t0), ErrPromPath)

	// Renaming over a non-empty directory fails after the temporary file
	// was written: it must be removed.
	target := filepath.Join(dir, "busy.prom")
	require.NoError(t, os.MkdirAll(filepath.Join(target, "child"), 0o755))
	require.Error(t, WritePromFile(target, cleanSummary(), t0))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "only the directory that was in the way")
}

func TestTempPatternIsNotCollected(t *testing.T) {
	dir := t.TempDir()
	for _, base := range []string{"lvfsck.prom", "a*b.prom", "x"} {
		f, err := os.CreateTemp(dir, tempPattern(base))
		require.NoError(t, err)
		name := filepath.Base(f.Name())
		require.NoError(t, f.Close())
		require.False(t, strings.HasSuffix(name, ".prom"), name)
		ok, err := filepath.Match("*.prom", name)
		require.NoError(t, err)
		require.False(t, ok, name)
	}
}
