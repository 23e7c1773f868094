package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/lvfsck/lvfsck/collect"
	"github.com/lvfsck/lvfsck/journal"
	"github.com/lvfsck/lvfsck/reconcile"
	"github.com/lvfsck/lvfsck/repair"
	"github.com/lvfsck/lvfsck/repair/adapt"
	"github.com/lvfsck/lvfsck/report"
	"github.com/lvfsck/lvfsck/spdk"
)

// writeOpts are the flags delete and repair share.
type writeOpts struct {
	socket        string
	devices       []string
	stateDir      *string
	wait          time.Duration
	dryRun        bool
	allowExported bool
	json          bool
	timeout       time.Duration
	incarnation   string
	tmpDir        string
	// Hidden, for tests: the first backoff delay of a busy retry.
	backoffInitial time.Duration
}

func addWriteFlags(cmd *cobra.Command, o *writeOpts) {
	f := cmd.Flags()
	f.StringVar(&o.socket, "socket", spdk.DefaultSocket, "spdk_tgt's JSON-RPC unix socket")
	f.StringArrayVar(&o.devices, "device", nil, "base device of an lvstore, read to verify deletions (repeatable; default: found from bdev_get_bdevs)")
	o.stateDir = addStateDirFlag(cmd)
	f.DurationVar(&o.wait, "wait", 0, "on a target with the fixed semantics, retry a busy delete (capped exponential backoff with jitter) this long")
	f.BoolVar(&o.dryRun, "dry-run", false, "say what would be done; change nothing")
	f.BoolVar(&o.allowExported, "allow-exported", false, "delete an lvol exported as an NVMe-oF namespace (a connected host loses the disk)")
	f.BoolVar(&o.json, "json", false, "write a JSON document instead of text")
	f.DurationVar(&o.timeout, "timeout", 30*time.Second, "deadline of each RPC call and disk read")
	f.StringVar(&o.incarnation, "incarnation", "", "target incarnation id (default: the socket peer's pid and start time)")
	f.StringVar(&o.tmpDir, "tmpdir", "", "where gzip images given with --device are decompressed (default: $TMPDIR)")
	f.DurationVar(&o.backoffInitial, "backoff-initial", 0, "first retry delay of a busy delete (default 200ms)")
	_ = f.MarkHidden("backoff-initial")
}

// session is what a write command holds for its whole run: the journal
// (locked: one repair at a time), the target, and the devices to verify on.
type session struct {
	g       *globalOpts
	o       *writeOpts
	j       *journal.Journal
	c       *spdk.Client
	inc     string
	pid     int
	live    reconcile.Live
	devices []string
	notes   []string
}

func (s *session) note(format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	s.notes = append(s.notes, msg)
	s.g.log.Warn().Msg(msg)
}

func (s *session) Close() {
	if s.c != nil {
		s.c.Close()
	}
	if s.j != nil {
		if err := s.j.Close(); err != nil {
			s.g.log.Error().Err(err).Msg("close journal")
		}
	}
}

// openSession opens the journal first (a second delete or repair on it
// fails at once, naming the directory), then the target, then finds the
// devices as check does.
func openSession(ctx context.Context, g *globalOpts, o *writeOpts) (*session, error) {
	s := &session{g: g, o: o}
	j, err := openJournal(g, *o.stateDir)
	if err != nil {
		return nil, err
	}
	s.j = j
	c, err := spdk.Dial(ctx, o.socket, spdk.WithTimeout(o.timeout))
	if err != nil {
		s.Close()
		if ctx.Err() != nil {
			return nil, exitCode(report.ExitCancelled, fmt.Errorf("cancelled while connecting to %s", o.socket))
		}
		return nil, exitCode(report.ExitOperational, fmt.Errorf("cannot reach spdk_tgt at %s: %w (is it running? is --socket right?)", o.socket, err))
	}
	s.c = c
	s.inc = o.incarnation
	if s.inc == "" {
		inc, err := c.Incarnation(ctx)
		if err != nil {
			s.note("target incarnation unknown (%v); pass --incarnation", err)
		} else {
			s.inc, s.pid = inc.String(), inc.PID
		}
	}
	live, notes, err := collect.Live(ctx, c)
	for _, n := range notes {
		s.note("%s", n)
	}
	if err != nil {
		s.Close()
		return nil, exitCode(report.ExitOperational, fmt.Errorf("live view from %s: %w", o.socket, err))
	}
	s.live = live
	s.devices = o.devices
	if len(s.devices) == 0 {
		if s.pid > 0 {
			if cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", s.pid)); err == nil {
				collect.ResolveDevices(&s.live, cwd)
			}
		}
		s.devices = collect.Devices(s.live)
		for _, name := range collect.Undiscovered(s.live) {
			s.note("lvstore %s: its base bdev names no file (not an AIO bdev); pass its device with --device, or deletions there cannot be verified", name)
		}
	}
	return s, nil
}

// target is repair's view of the session's client.
func (s *session) target() repair.Target { return adapt.NewTarget(s.c) }

// deleter wires repair's executor to this session.
func (s *session) deleter(by string, isRepair bool, runID string) *repair.Deleter {
	d := adapt.NewDisk(s.devices...)
	d.TmpDir = s.o.tmpDir
	bo := repair.DefaultBackoff()
	if s.o.backoffInitial > 0 {
		bo.Initial = s.o.backoffInitial
	}
	return &repair.Deleter{
		Target:     s.target(),
		Disk:       d,
		Journal:    &adapt.Journal{J: s.j, Incarnation: s.inc, Socket: s.o.socket, RunID: runID, By: by, Repair: isRepair},
		Clock:      repair.RealClock{},
		Backoff:    bo,
		RPCTimeout: s.o.timeout,
	}
}

type deleteOpts struct {
	writeOpts
	lvstore string
}

func init() {
	subcommands = append(subcommands, newDeleteCmd)
}

func newDeleteCmd(g *globalOpts) *cobra.Command {
	o := &deleteOpts{}
	cmd := &cobra.Command{
		Use:   "delete LVOL...",
		Short: "delete lvols with non-forced semantics, verified on disk",
		Long: `delete removes each LVOL (alias lvstore/name, uuid, or name with --lvstore)
through spdk_tgt, and never reports a deletion that did not happen:

  1. the intent is recorded in the journal (--state-dir) before anything is sent;
  2. preflight over RPC: a snapshot with more than one clone, a claimed bdev,
     or an lvol exported as an NVMe-oF namespace (unless --allow-exported) is
     refused, nothing changed;
  3. where the target offers bdev_lvol_stop_snapshot_checksum, a running
     checksum of a snapshot is stopped first;
  4. bdev_lvol_delete; a success is verified: gone from the live view and its
     metadata pages gone from the device;
  5. on a busy answer lvfsck looks at once: still listed means the target has
     the fix (retried until --wait runs out); gone from the view with its blob
     still on disk is a FORCED REMOVAL: the target dropped it from memory
     only, it comes back at the next restart or lvstore reload, and
     ` + "`lvfsck repair`" + ` finishes it after the restart.

Deletes that an earlier run left unfinished (killed mid-way) are verified
and recorded first.

Exit: 0 deleted and verified (or a dry run that would go ahead); 4 refused,
busy after --wait, or forced removal; 8 operational (target or device
unreachable, journal locked, not found, not verifiable); 16 usage; 32
cancelled. Several LVOLs OR their codes.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runDelete(cmd, g, o, args) },
	}
	addWriteFlags(cmd, &o.writeOpts)
	cmd.Flags().StringVar(&o.lvstore, "lvstore", "", "lvstore (name or uuid) of LVOLs given by bare name")
	return cmd
}

// deleteDoc is the --json document of delete.
type deleteDoc struct {
	Command  string      `json:"command"`
	Target   string      `json:"target"`
	DryRun   bool        `json:"dry_run"`
	Finished []resultDoc `json:"finished_intents"`
	Results  []resultDoc `json:"results"`
	Notes    []string    `json:"notes"`
	Exit     int         `json:"exit"`
	Meaning  string      `json:"exit_meaning"`
}

type resultDoc struct {
	Ref       string            `json:"ref"`
	LvolUUID  string            `json:"lvol_uuid,omitempty"`
	BlobID    uint64            `json:"blob_id,omitempty"`
	IntentID  string            `json:"intent_id,omitempty"`
	Outcome   repair.Outcome    `json:"outcome"`
	Semantics repair.Semantics  `json:"semantics"`
	Attempts  int               `json:"attempts"`
	Summary   string            `json:"summary"`
	Messages  []string          `json:"messages"`
	Evidence  map[string]string `json:"evidence,omitempty"`
	Error     string            `json:"error,omitempty"`
	Exit      int               `json:"exit"`
}

func toDoc(r repair.Result, err error) resultDoc {
	d := resultDoc{Ref: r.Ref, BlobID: r.BlobID, IntentID: r.IntentID, Outcome: r.Outcome, Semantics: r.Semantics,
		Attempts: r.Attempts, Messages: r.Messages, Evidence: r.Evidence, Exit: r.ExitCode, Summary: summary(r)}
	if r.Lvol != nil {
		d.LvolUUID = r.Lvol.UUID
	}
	if d.Messages == nil {
		d.Messages = []string{}
	}
	if err != nil {
		d.Error = err.Error()
	}
	return d
}

// summary is the one line the operator reads first.
func summary(r repair.Result) string {
	switch r.Outcome {
	case repair.OutcomeDeletedVerified:
		return "deleted and verified: gone from the live view and from disk"
	case repair.OutcomeDryRun:
		return "dry run: nothing changed"
	case repair.OutcomeRefused:
		return "refused, nothing changed"
	case repair.OutcomeRefusedBusy:
		return "refused: still busy when --wait ran out (the target kept it: it has the fix), nothing changed"
	case repair.OutcomeForcedRemoval, repair.OutcomePendingResurrection:
		return "FORCED REMOVAL detected and scheduled: the target dropped it from memory only; it comes back at the next restart or lvstore reload; run `lvfsck repair` after the restart"
	case repair.OutcomeStillPresent:
		return "the interrupted delete did not happen: still live"
	case repair.OutcomeNotFound:
		return "not found: in neither the live view nor on disk"
	case repair.OutcomeCancelled:
		return "cancelled, nothing changed"
	default:
		return "NOT verified: lvfsck could not establish what happened; the journal keeps the intent open and the next run verifies it"
	}
}

func runDelete(cmd *cobra.Command, g *globalOpts, o *deleteOpts, args []string) error {
	refs := make([]repair.Ref, 0, len(args))
	for _, a := range args {
		ref, err := repair.ParseRef(a, o.lvstore)
		if err != nil {
			return usageError("%v", err)
		}
		refs = append(refs, ref)
	}
	if o.wait < 0 {
		return usageError("--wait must not be negative")
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	out := cmd.OutOrStdout()

	s, err := openSession(ctx, g, &o.writeOpts)
	if err != nil {
		return err
	}
	defer s.Close()
	doc := deleteDoc{Command: "delete", Target: o.socket, DryRun: o.dryRun, Finished: []resultDoc{}, Results: []resultDoc{}}
	runID, err := s.j.BeginRun(journal.Run{Command: "delete", Started: time.Now(), Incarnation: s.inc, Target: o.socket, Devices: s.devices})
	if err != nil {
		return exitCode(report.ExitOperational, fmt.Errorf("journal: %w", err))
	}
	code := report.ExitOK
	defer func() {
		if ferr := s.j.FinishRun(runID, report.ExitMeaning(code), code); ferr != nil {
			g.log.Error().Err(ferr).Msg("journal: finish run")
		}
	}()
	d := s.deleter("lvfsck delete", false, runID)
	if _, err := s.finishReloads(ctx, false, runID); err != nil {
		s.note("%v", err)
	}

	// An earlier run killed mid-delete: verify and record what happened
	// before anything new is sent.
	if o.dryRun {
		if open, err := d.Journal.OpenIntents(ctx); err == nil && len(open) > 0 {
			s.note("%d interrupted delete(s) from an earlier run are open; a run without --dry-run verifies and records them first", len(open))
		}
	} else {
		fin, err := d.FinishOpen(ctx)
		for _, r := range fin {
			doc.Finished = append(doc.Finished, toDoc(r, nil))
		}
		if err != nil {
			s.note("an interrupted delete could not be verified (%v); it stays open", err)
			code |= report.ExitOperational
		}
	}

	for _, ref := range refs {
		if ctx.Err() != nil {
			code |= report.ExitCancelled
			break
		}
		res, err := d.Delete(ctx, repair.Request{Ref: ref, Wait: o.wait, DryRun: o.dryRun, AllowExported: o.allowExported})
		if err != nil {
			g.log.Info().Err(err).Str("lvol", ref.String()).Msg("delete")
		}
		doc.Results = append(doc.Results, toDoc(res, err))
		code |= res.ExitCode
	}
	doc.Notes = append([]string{}, s.notes...)
	doc.Exit, doc.Meaning = code, report.ExitMeaning(code)
	if werr := writeDeleteDoc(out, doc, o.json); werr != nil {
		code |= report.ExitOperational
		return exitCode(code, fmt.Errorf("write report: %w", werr))
	}
	if code != report.ExitOK {
		return exitCode(code, nil)
	}
	return nil
}

func writeDeleteDoc(w io.Writer, doc deleteDoc, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(doc)
	}
	var b strings.Builder
	for _, n := range doc.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	if len(doc.Finished) > 0 {
		fmt.Fprintf(&b, "Finished %d interrupted delete(s) from an earlier run:\n", len(doc.Finished))
		writeResults(&b, doc.Finished)
		b.WriteString("\n")
	}
	writeResults(&b, doc.Results)
	_, err := io.WriteString(w, b.String())
	return err
}

func writeResults(b *strings.Builder, rs []resultDoc) {
	for _, r := range rs {
		fmt.Fprintf(b, "%s: %s\n", r.Ref, r.Summary)
		for _, m := range r.Messages {
			fmt.Fprintf(b, "  %s\n", m)
		}
		if r.Error != "" && !containsLine(r.Messages, r.Error) {
			fmt.Fprintf(b, "  error: %s\n", r.Error)
		}
	}
}

func containsLine(ms []string, s string) bool {
	for _, m := range ms {
		if m == s {
			return true
		}
	}
	return false
}
