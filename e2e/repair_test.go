package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/spdk"
)

// repairOut is the part of `lvfsck repair --json` the tests read.
type repairOut struct {
	Applied bool `json:"applied"`
	Plan    []struct {
		Action string `json:"action"`
		Target string `json:"target"`
	} `json:"plan"`
	Results []struct {
		Target   string   `json:"target"`
		Action   string   `json:"action"`
		Outcome  string   `json:"outcome"`
		Messages []string `json:"messages"`
		Error    string   `json:"error"`
	} `json:"results"`
	Exit int `json:"exit"`
}

func (r repairOut) text() string {
	var b strings.Builder
	for _, s := range r.Results {
		b.WriteString(s.Outcome + " " + s.Error + "\n" + strings.Join(s.Messages, "\n") + "\n")
	}
	return b.String()
}

// fast reload knobs: a short I/O watch; the unload of a healthy lvstore
// answers in milliseconds.
var reloadFlags = []string{"--reload", "--io-sample", "600ms", "--io-every", "150ms"}

func (tg *target) repair(t *testing.T, state string, args ...string) (run, repairOut) {
	t.Helper()
	r := lvfsck(t, append([]string{"repair", "--json", "--socket", tg.sock, "--state-dir", state}, args...)...)
	var d repairOut
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &d), "%s", r)
	return r, d
}

// forcedRemoval runs the scenario up to a forced removal through
// lvfsck delete, and waits for the checksum to end.
func forcedRemoval(t *testing.T, tg *target, state string) {
	t.Helper()
	wait := checksum(t, tg, "lvs-r/backup-1")
	r, d := tg.delete(t, state, "lvs-r/backup-1")
	wait()
	require.Equal(t, 4, r.code, "%s", r)
	require.Equal(t, "forced-removal", d.Results[0].Outcome)
}

// --reload finishes a forced removal without a restart: the lvstore is
// reloaded, the dropped snapshot reappears and is deleted for good.
func TestRepairReloadFinishesForcedRemoval(t *testing.T) {
	onBoth(t, func(t *testing.T, b backend) {
		image, state := diskAndState(t)
		tg := b.start(t, image, opts{})
		snap := setup(t, tg)
		forcedRemoval(t, tg, state)

		r, d := tg.repair(t, state, append([]string{"--yes"}, reloadFlags...)...)
		require.Equal(t, 1, r.code, "%s\n%s", r, d.text())
		require.True(t, d.Applied)
		require.Equal(t, "reload-delete", d.Plan[0].Action)
		require.Equal(t, "deleted-verified", d.Results[0].Outcome, "%s", d.text())
		require.Contains(t, d.text(), "not a proof", "a quiet base bdev is no proof, and lvfsck says so")
		_, listed := tg.lvol("backup-1")
		require.False(t, listed)
		require.Equal(t, "", tg.lvolDriver("lvs-r/replica-a").BaseSnapshot, "replica-a's snapshot is really gone")

		tg2 := tg.restart("SIGINT")
		_, back := tg2.lvol("backup-1")
		require.False(t, back, "nothing comes back after a further restart")
		c := tg2.check(t, state)
		require.Equal(t, 0, c.code, "%s", c)
		h := lvfsck(t, "history", "--state-dir", state, snap)
		storyInOrder(t, h.stdout, "delete-intent", "forced-removal", "delete-intent", "repaired")
	})
}

// The reload is refused, and nothing changes, while an lvol of the
// lvstore is exported over NVMe-oF.
func TestRepairReloadRefusesExported(t *testing.T) {
	onBoth(t, func(t *testing.T, b backend) {
		image, state := diskAndState(t)
		tg := b.start(t, image, opts{})
		setup(t, tg)
		forcedRemoval(t, tg, state)
		ctx := ctxT(t)
		by, ok := tg.lvol("bystander")
		require.True(t, ok)
		tg.export("nqn.2016-06.io.spdk:vol", by.UUID)
		before := sum(t, image)

		r, d := tg.repair(t, state, append([]string{"--yes"}, reloadFlags...)...)
		require.Equal(t, 4, r.code, "%s\n%s", r, d.text())
		require.Contains(t, d.text(), "exported-nvmf")
		require.Contains(t, d.text(), "lvs-r/bystander: nqn.2016-06.io.spdk:vol nsid 1")
		subs, err := tg.c.GetNvmfSubsystems(ctx)
		require.NoError(t, err)
		require.True(t, hasNamespace(subs, by.UUID), "the namespace is still there")
		_, ok = tg.lvol("bystander")
		require.True(t, ok, "the lvstore was not unloaded")
		require.Equal(t, before, sum(t, image))
	})
}

func hasNamespace(subs []spdk.NvmfSubsystem, bdev string) bool {
	for _, s := range subs {
		for _, ns := range s.Namespaces {
			if ns.BdevName == bdev {
				return true
			}
		}
	}
	return false
}

// The reload is refused while a checksum or a shallow copy reads the base
// bdev (or writes an lvol): the target never reaches the wedge.
func TestRepairReloadRefusesWhileReading(t *testing.T) {
	onBothHolds(t, func(t *testing.T, b backend, h hold) {
		image, state := diskAndState(t)
		tg := b.start(t, image, opts{hold: h, simFlags: []string{"--op-duration", "3s"}})
		setup(t, tg)
		delErr, hd := holdAndDelete(t, tg)
		require.ErrorIs(t, delErr, spdk.ErrBusy)

		r, d := tg.repair(t, state, append([]string{"--yes"}, reloadFlags...)...)
		require.True(t, hd.running(), "refused while the hold still runs")
		require.Equal(t, 4, r.code, "%s\n%s", r, d.text())
		// A checksum reads the base bdev only; the sim's copy also writes
		// its destination lvol, of the same lvstore there.
		require.Regexp(t, `refused \((base-io|lvol-io)\)`, d.text())
		_, ok := tg.lvol("replica-a")
		require.True(t, ok, "the lvstore was not unloaded")
		lvs, err := tg.c.GetLvstores(ctxT(t), spdk.LvstoreQuery{})
		require.NoError(t, err)
		require.Len(t, lvs, 1)
		hd.wait()
	})
}

// A shallow copy stalled on its destination holds the snapshot with the
// base bdev quiet: the guards cannot see it, the unload wedges (the
// reload-unsafe capture), and lvfsck's deadline turns that into a clear
// message and exit 8, not a hang. The real target's stall is a destination
// whose writes take 10 minutes.
func TestRepairReloadWedgeMeetsDeadline(t *testing.T) {
	onBoth(t, func(t *testing.T, b backend) {
		image, state := diskAndState(t)
		tg := b.start(t, image, opts{hold: holdCopy, stall: true})
		setup(t, tg)
		delErr, _ := holdAndDelete(t, tg)
		require.ErrorIs(t, delErr, spdk.ErrBusy)

		start := time.Now()
		r, d := tg.repair(t, state, append([]string{"--yes", "--unload-timeout", "1s"}, reloadFlags...)...)
		took := time.Since(start)
		require.Less(t, took, 10*time.Second, "no hang")
		require.Equal(t, 8, r.code&8, "%s\n%s", r, d.text())
		require.Contains(t, d.text(), "did not answer within 1s")
		require.Contains(t, d.text(), "restart spdk_tgt")
		t.Logf("wedged unload reported after %s", took)
		// The target is wedged: only a kill ends it (the cleanup kills it).
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		lvs, err := tg.c.GetLvstores(ctx, spdk.LvstoreQuery{})
		if err == nil {
			require.Empty(t, lvs, "the lvstore vanished from the views")
		}
	})
}

// repair without --yes changes nothing: the image is byte-identical.
func TestRepairWithoutYesChangesNothing(t *testing.T) {
	image, state := diskAndState(t)
	tg := startSim(t, image)
	setup(t, tg)
	forcedRemoval(t, tg, state)
	tg2 := tg.restart("SIGINT")
	_, back := tg2.lvol("backup-1")
	require.True(t, back)
	before := sum(t, image)
	for _, args := range [][]string{nil, {"--dry-run"}, reloadFlags} {
		r, d := tg2.repair(t, state, args...)
		require.Equal(t, 4, r.code, "%v: %s", args, r)
		require.False(t, d.Applied)
		require.Equal(t, "delete", d.Plan[0].Action)
	}
	require.Equal(t, before, sum(t, image), "byte-identical")
	_, still := tg2.lvol("backup-1")
	require.True(t, still)
}
