package collect

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/finding"
	"github.com/lvfsck/lvfsck/internal/testfix"
	"github.com/lvfsck/lvfsck/reconcile"
	"github.com/lvfsck/lvfsck/scanner"
	"github.com/lvfsck/lvfsck/spdk"
)

const fixtures = "../testdata/fixtures"

func fx(name string) string { return filepath.Join(fixtures, name) }

// filesOf names the captured answers of one moment ("notify.after-delete").
func filesOf(prefix string, notify bool) Files {
	f := Files{
		Lvstores: fx(prefix + ".bdev_lvol_get_lvstores.json"),
		Lvols:    fx(prefix + ".bdev_lvol_get_lvols.json"),
		Bdevs:    fx(prefix + ".bdev_get_bdevs.json"),
	}
	if notify {
		f.Notify = fx(prefix + ".notify_get_notifications.json")
	}
	return f
}

func TestBuildLiveFromCaptures(t *testing.T) {
	a, err := LoadFiles(filesOf("notify.after-delete", true))
	require.NoError(t, err)
	live := BuildLive(a)
	require.Len(t, live.Lvstores, 1)
	ls := live.Lvstores[0]
	require.Equal(t, "lvs-r", ls.Name)
	require.Equal(t, "aio0", ls.BaseBdev)
	require.NotEmpty(t, ls.Device, "the AIO bdev names its file")
	require.Equal(t, []string{ls.Device}, Devices(live))
	require.Empty(t, Undiscovered(live))
	require.True(t, live.NotifyAvailable)
	require.NotEmpty(t, live.Notifications)

	byName := map[string]reconcile.LiveLvol{}
	for _, l := range live.Lvols {
		byName[l.Name] = l
	}
	vol := byName["vol"]
	require.True(t, vol.Clone)
	require.True(t, vol.ParentReported, "driver_specific.lvol was seen")
	require.Empty(t, vol.BaseSnapshot, "the force-removed snapshot has no name any more")
	require.Equal(t, uint64(112<<20), vol.SizeBytes)
	require.Equal(t, "lvs-r/vol", vol.Alias)
	require.Equal(t, ls.UUID, vol.LvstoreUUID)
	require.NotContains(t, byName, "snap-x")

	before, err := LoadFiles(filesOf("notify.before-delete", false))
	require.NoError(t, err)
	lb := BuildLive(before)
	require.False(t, lb.NotifyAvailable)
	for _, l := range lb.Lvols {
		if l.Name == "vol" {
			require.Equal(t, "snap-x", l.BaseSnapshot)
		}
		if l.Name == "snap-x" {
			require.Equal(t, []string{"vol"}, l.Clones)
		}
	}
}

func TestBuildLiveWithoutBdevs(t *testing.T) {
	f := filesOf("notify.after-delete", false)
	f.Bdevs = ""
	a, err := LoadFiles(f)
	require.NoError(t, err)
	live := BuildLive(a)
	require.Equal(t, []string{"lvs-r"}, Undiscovered(live))
	require.Empty(t, Devices(live))
	for _, l := range live.Lvols {
		require.False(t, l.ParentReported, "%s: no bdev, no claim about its parent", l.Name)
		require.Zero(t, l.SizeBytes)
	}
}

// fakeRPC answers from captured answers, with errors to inject.
type fakeRPC struct {
	a                       Answers
	lvsErr, lvolErr, bdvErr error
	notifyErr               error
}

func (f *fakeRPC) GetLvstores(context.Context, spdk.LvstoreQuery) ([]spdk.Lvstore, error) {
	return f.a.Lvstores, f.lvsErr
}
func (f *fakeRPC) GetLvols(context.Context, spdk.LvolQuery) ([]spdk.Lvol, error) {
	return f.a.Lvols, f.lvolErr
}
func (f *fakeRPC) GetBdevs(context.Context, string) ([]spdk.Bdev, error) { return f.a.Bdevs, f.bdvErr }
func (f *fakeRPC) NotifyGetNotifications(context.Context, uint64, uint64) ([]spdk.Notification, error) {
	return f.a.Notifications, f.notifyErr
}

func TestLive(t *testing.T) {
	a, err := LoadFiles(filesOf("notify.after-delete", true))
	require.NoError(t, err)
	methodNotFound := &spdk.RPCError{Code: spdk.CodeMethodNotFound, Message: "Method not found"}
	boom := errors.New("boom")
	cases := []struct {
		name       string
		rpc        fakeRPC
		wantErr    bool
		wantNotify bool
		wantParent bool
		notes      int
	}{
		{name: "all", rpc: fakeRPC{a: a}, wantNotify: true, wantParent: true},
		{name: "no notify method", rpc: fakeRPC{a: a, notifyErr: methodNotFound}, wantParent: true, notes: 1},
		{name: "notify fails", rpc: fakeRPC{a: a, notifyErr: boom}, wantParent: true, notes: 1},
		{name: "bdevs fail", rpc: fakeRPC{a: a, bdvErr: boom}, wantNotify: true, notes: 1},
		{name: "lvstores fail", rpc: fakeRPC{a: a, lvsErr: boom}, wantErr: true},
		{name: "lvols fail", rpc: fakeRPC{a: a, lvolErr: boom}, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			live, notes, err := Live(context.Background(), &tc.rpc)
			if tc.wantErr {
				require.ErrorIs(t, err, boom)
				return
			}
			require.NoError(t, err)
			require.Len(t, notes, tc.notes, "%v", notes)
			require.Equal(t, tc.wantNotify, live.NotifyAvailable)
			require.Len(t, live.Lvols, len(a.Lvols))
			parent := false
			for _, l := range live.Lvols {
				parent = parent || l.ParentReported
			}
			require.Equal(t, tc.wantParent, parent)
		})
	}
}

func TestDecodeAnswer(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want int
		err  bool
	}{
		{"bare", `[{"uuid":"u","name":"lvs"}]`, 1, false},
		{"response", `{"jsonrpc":"2.0","id":1,"result":[{"uuid":"u"},{"uuid":"v"}]}`, 2, false},
		{"empty", `[]`, 0, false},
		{"error response", `{"jsonrpc":"2.0","id":1,"error":{"code":-19,"message":"No such device"}}`, 0, true},
		{"object without result", `{"jsonrpc":"2.0"}`, 0, true},
		{"garbage", `not json`, 0, true},
		{"wrong shape", `{"result":{"uuid":"u"}}`, 0, true},
		{"null", `null`, 0, true},
		{"null result", `{"jsonrpc":"2.0","id":1,"result":null}`, 0, true},
		{"null element", `[{"uuid":"u"},null]`, 0, true},
		{"number element", `[1]`, 0, true},
		{"empty file", ``, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out []spdk.Lvstore
			err := DecodeAnswer([]byte(tc.in), &out)
			if tc.err {
				require.ErrorIs(t, err, ErrCaptured)
				return
			}
			require.NoError(t, err)
			require.Len(t, out, tc.want)
		})
	}
}

func TestLoadFilesErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte("{"), 0o644))
	null := filepath.Join(dir, "null.json")
	require.NoError(t, os.WriteFile(null, []byte("null\n"), 0o644))
	ok := fx("notify.after-delete.bdev_lvol_get_lvols.json")
	lvs := fx("notify.after-delete.bdev_lvol_get_lvstores.json")
	for name, f := range map[string]Files{
		"missing lvstores": {Lvols: ok},
		"no such file":     {Lvstores: filepath.Join(dir, "nope"), Lvols: ok},
		"bad lvols":        {Lvstores: lvs, Lvols: bad},
		// null is malformed in every captured answer, not "none"
		"null lvstores": {Lvstores: null, Lvols: ok},
		"null lvols":    {Lvstores: lvs, Lvols: null},
		"null bdevs":    {Lvstores: lvs, Lvols: ok, Bdevs: null},
		"null notify":   {Lvstores: lvs, Lvols: ok, Notify: null},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := LoadFiles(f)
			require.ErrorIs(t, err, ErrCaptured)
			if strings.HasPrefix(name, "null") {
				require.ErrorContains(t, err, null)
			}
		})
	}
}

var (
	scanMu    sync.Mutex
	scanCache = map[string]*scanner.View{}
)

// scanFixture scans a captured image once per test binary: inflating and
// scanning a 128 MiB image takes seconds under the race detector.
func scanFixture(t testing.TB, image string) Scan {
	t.Helper()
	scanMu.Lock()
	defer scanMu.Unlock()
	v, ok := scanCache[image]
	if !ok {
		var err error
		v, err = scanner.ScanPath(context.Background(), fx(image), scanner.Options{Mode: scanner.ModeAuto}, t.TempDir())
		require.NoError(t, err)
		scanCache[image] = v
	}
	return Scan{Device: fx(image), View: v}
}

func TestPersistedFromScan(t *testing.T) {
	s := scanFixture(t, "notify-pending-live.img.gz")
	p := Persisted([]Scan{s, {Device: "/dev/nope", Err: errors.New("permission denied")}}, true)
	require.True(t, p.Complete)
	require.Len(t, p.Lvstores, 2)
	require.True(t, p.Lvstores[0].Readable)
	require.Equal(t, "lvs-r", p.Lvstores[0].Name)
	require.False(t, p.Lvstores[0].Clean, "copied while the target ran")
	require.Equal(t, uint64(1<<20), p.Lvstores[0].ClusterSize)
	require.False(t, p.Lvstores[1].Readable)
	require.Equal(t, "permission denied", p.Lvstores[1].Err)
	byName := map[string]reconcile.PersistedLvol{}
	for _, l := range p.Lvols {
		byName[l.Name] = l
	}
	require.Len(t, byName, 4, "vol, snap-x, vol-a, vol-b")
	snap, vol := byName["snap-x"], byName["vol"]
	require.Equal(t, "5ae2d848-da40-4d18-8f6c-64cb6802a968", snap.UUID)
	require.True(t, snap.IsSnapshot)
	require.True(t, snap.ReadOnly)
	require.Equal(t, uint64(96), snap.AllocatedClusters)
	require.True(t, vol.IsClone)
	require.Equal(t, snap.BlobID, vol.ParentBlobID)
	require.Equal(t, "snap-x", vol.ParentName)
	require.Equal(t, finding.LoadOK, vol.Loads)
	require.NotEmpty(t, vol.Pages)
}

func TestComplete(t *testing.T) {
	view := &scanner.View{Device: "/img", Lvstore: scanner.Lvstore{UUID: "u1"}}
	live := func(lss ...reconcile.LiveLvstore) reconcile.Live { return reconcile.Live{Lvstores: lss} }
	cases := []struct {
		name  string
		live  reconcile.Live
		scans []Scan
		want  bool
	}{
		{"nothing live", live(), nil, true},
		{"by uuid", live(reconcile.LiveLvstore{UUID: "u1", Device: "/other"}), []Scan{{Device: "/img", View: view}}, true},
		{"by device", live(reconcile.LiveLvstore{UUID: "u2", Device: "/img"}), []Scan{{Device: "/img", View: view}}, true},
		{"unreadable device counts", live(reconcile.LiveLvstore{UUID: "u2", Device: "/bad"}), []Scan{{Device: "/bad", Err: errors.New("x")}}, true},
		{"not scanned", live(reconcile.LiveLvstore{UUID: "u2", Device: "/dev2"}), []Scan{{Device: "/img", View: view}}, false},
		{"no device known", live(reconcile.LiveLvstore{UUID: "u2"}), []Scan{{Device: "/img", View: view}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, Complete(tc.live, tc.scans))
		})
	}
}

// The acceptance case of issue 4: each pending-live capture, checked
// offline, reports exactly the manifest's persisted_not_live lvol as a
// pending resurrection — with no journal at all.
func TestOfflinePendingLive(t *testing.T) {
	cases := []struct{ image, views, manifest string }{
		{"notify-pending-live.img.gz", "notify.after-delete", "notify-pending-live.manifest.json"},
		{"resurrection-pending-live.img.gz", "resurrection.after-delete", "resurrection-pending-live.manifest.json"},
		{"shallow-copy-pending-live.img.gz", "shallow-copy.after-delete", "shallow-copy-pending-live.manifest.json"},
	}
	for _, tc := range cases {
		t.Run(tc.image, func(t *testing.T) {
			m := testfix.ReadManifest(t, fx(tc.manifest))
			require.Len(t, m.PersistedNotLive, 1)
			notify := tc.views == "notify.after-delete"
			a, err := LoadFiles(filesOf(tc.views, notify))
			require.NoError(t, err)
			live := BuildLive(a)
			scans := []Scan{scanFixture(t, tc.image)}
			fs := reconcile.Check(reconcile.Input{Persisted: Persisted(scans, Complete(live, scans)), Live: live})
			var pending []finding.Finding
			for _, f := range fs {
				if f.Code == reconcile.CodePendingResurrection {
					pending = append(pending, f)
				}
			}
			require.Len(t, pending, 1, "%v", fs)
			require.Equal(t, m.PersistedNotLive[0].UUID, pending[0].LvolUUID)
			require.Equal(t, m.PersistedNotLive[0].Name, pending[0].LvolName)
			require.Empty(t, IntegrityFindings(scans))
		})
	}
}

func TestIntegrityFindingsFillLvstore(t *testing.T) {
	v := &scanner.View{Lvstore: scanner.Lvstore{UUID: "u", Name: "lvs"}, Findings: []finding.Finding{{Code: "x"}, {Code: "y", Lvstore: "other", LvstoreUUID: "o"}}}
	fs := IntegrityFindings([]Scan{{View: v}, {Err: errors.New("unread")}})
	require.Len(t, fs, 2)
	require.Equal(t, "u", fs[0].LvstoreUUID)
	require.Equal(t, "lvs", fs[0].Lvstore)
	require.Equal(t, "o", fs[1].LvstoreUUID, "the scanner's own attribution is kept")
}

func TestResolveDevices(t *testing.T) {
	live := reconcile.Live{Lvstores: []reconcile.LiveLvstore{{Device: "disk.img"}, {Device: "/abs/disk"}, {}}}
	ResolveDevices(&live, "")
	require.Equal(t, "disk.img", live.Lvstores[0].Device, "no directory known: unchanged")
	ResolveDevices(&live, "/srv/tgt")
	require.Equal(t, "/srv/tgt/disk.img", live.Lvstores[0].Device)
	require.Equal(t, "/abs/disk", live.Lvstores[1].Device)
	require.Empty(t, live.Lvstores[2].Device)
}
