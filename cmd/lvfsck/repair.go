package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/lvfsck/lvfsck/finding"
	"github.com/lvfsck/lvfsck/journal"
	"github.com/lvfsck/lvfsck/repair"
	"github.com/lvfsck/lvfsck/report"
)

type repairOpts struct {
	writeOpts
	yes    bool
	reload bool
	// Hidden knobs of the reload, for tests and for targets slower than
	// the captured one.
	unloadTimeout time.Duration
	ioSample      time.Duration
	ioEvery       time.Duration
}

// stdinIsTerminal tells whether a typed confirmation can be asked for;
// tests replace it.
var stdinIsTerminal = func() bool {
	fd := os.Stdin.Fd()
	return isatty.IsTerminal(fd) || isatty.IsCygwinTerminal(fd)
}

func init() {
	subcommands = append(subcommands, newRepairCmd)
}

func newRepairCmd(g *globalOpts) *cobra.Command {
	o := &repairOpts{}
	cmd := &cobra.Command{
		Use:   "repair",
		Short: "plan and apply the repairs RPC can make (guarded deletes of resurrected lvols)",
		Long: `repair gathers the findings exactly as ` + "`lvfsck check`" + ` does, plans what
JSON-RPC can repair, shows the plan, and applies it only with --yes (or after
typing the lvstore name or "yes" at a terminal prompt):

  finish-intent   an interrupted delete is verified and recorded
  delete          an lvol whose deletion the journal records and that came
                  back after a restart gets a guarded delete, verified on disk
  wait-restart    a pending resurrection (dropped from the target's memory,
                  blob on disk): restart the target, then run repair again
  reload-delete   with --reload, in a maintenance window: remove and re-add
                  the lvstore's AIO base bdev so the lvol loads again, then
                  delete it. Refused while any lvol of the lvstore is claimed
                  or exported over NVMe-oF, or while the base bdev shows I/O
                  the lvols do not explain; a quiet base bdev is not a proof
                  that nothing holds a blob, and an unload that does not
                  answer in time is reported with what to do.

Findings RPC cannot repair (corruption) are listed with advice, never touched.

Exit: 0 nothing to do; 1 errors corrected, none left; 4 errors left (ORed
with 1 when some were corrected; also when the plan was not applied); 8
operational (a wedged reload among them); 16 usage; 32 cancelled at the
prompt.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runRepair(cmd, g, o) },
	}
	addWriteFlags(cmd, &o.writeOpts)
	f := cmd.Flags()
	f.BoolVar(&o.yes, "yes", false, "apply the plan without asking")
	f.BoolVar(&o.reload, "reload", false, "finish pending resurrections now by reloading their lvstore (maintenance window)")
	f.DurationVar(&o.unloadTimeout, "unload-timeout", 30*time.Second, "deadline of the lvstore unload (bdev_aio_delete) of --reload")
	f.DurationVar(&o.ioSample, "io-sample", 3*time.Second, "how long --reload watches the base bdev's I/O before unloading")
	f.DurationVar(&o.ioEvery, "io-every", 500*time.Millisecond, "bdev_get_iostat interval while sampling")
	for _, h := range []string{"unload-timeout", "io-sample", "io-every"} {
		_ = f.MarkHidden(h)
	}
	return cmd
}

func runRepair(cmd *cobra.Command, g *globalOpts, o *repairOpts) (err error) {
	switch {
	case o.wait < 0:
		return usageError("--wait must not be negative")
	case o.unloadTimeout <= 0 || o.ioSample <= 0 || o.ioEvery <= 0:
		return usageError("--unload-timeout, --io-sample and --io-every must be positive")
	case o.yes && o.dryRun:
		return usageError("--yes and --dry-run exclude each other")
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	out := cmd.OutOrStdout()

	s, closeAll, err := openSession(ctx, g, &o.writeOpts)
	if err != nil {
		return err
	}
	defer closeAll()
	started := time.Now()
	runID, err := s.Journal.BeginRun(journal.Run{Command: "repair", Started: started, Incarnation: s.Incarnation, Target: o.socket, Devices: s.Devices})
	if err != nil {
		return exitCode(report.ExitOperational, fmt.Errorf("journal: %w", err))
	}
	code := report.ExitOK
	defer func() {
		final := finalCode(code, err)
		if ferr := s.Journal.FinishRun(runID, report.ExitMeaning(final), final); ferr != nil {
			g.log.Error().Err(ferr).Msg("journal: finish run")
		}
	}()

	// 0. A reload an earlier run left half done.
	recreated, err := s.FinishReloads(ctx, o.yes && !o.dryRun, runID)
	if err != nil {
		return exitCode(report.ExitOperational, err)
	}
	if len(recreated) > 0 {
		if err := s.AwaitLvstores(ctx, recreated); err != nil {
			code |= report.ExitOperational
			s.Note("%v", err)
		}
	}

	// 1. The findings, gathered as check gathers them.
	fs, opErr, err := s.Findings(ctx, cmd.ErrOrStderr(), runID)
	if err != nil {
		return exitOf(err)
	}
	if opErr {
		code |= report.ExitOperational
	}

	// 2. The plan.
	plan := repair.Plan(fs, repair.PlanOptions{Reload: o.reload})
	doc := report.RepairDoc{Command: "repair", Target: o.socket, Reload: o.reload, DryRun: o.dryRun,
		Findings: fs, Plan: report.RepairSteps(plan), Results: []report.RepairStepResult{}}
	if doc.Findings == nil {
		doc.Findings = []finding.Finding{}
	}
	text := &strings.Builder{}
	for _, n := range s.Notes() {
		fmt.Fprintf(text, "note: %s\n", n)
	}
	if err := plan.Render(text); err != nil {
		return exitCode(report.ExitOperational, err)
	}
	if !o.reload && slices.ContainsFunc(plan.Steps, func(st repair.Step) bool { return st.Action == repair.ActionWaitRestart }) {
		text.WriteString("\nPending resurrections are finished after a restart: restart the target (the lvols load again), then run `lvfsck repair --yes`.\n" +
			"Without a restart, `lvfsck repair --yes --reload` reloads the lvstore in a maintenance window.\n")
	}

	// 3. Confirmation.
	yes := o.yes
	if plan.Actionable() > 0 && !yes && !o.dryRun {
		if !o.json && stdinIsTerminal() {
			flush(out, text)
			ok, perr := confirm(ctx, out, cmd.InOrStdin(), plan)
			if perr != nil || !ok {
				fmt.Fprintln(out, "Not confirmed: nothing was changed.")
				code |= report.ExitCancelled
				return exitCode(code, nil)
			}
			yes = true
		} else {
			text.WriteString("\nNothing was changed: run `lvfsck repair --yes` to apply this plan.\n")
		}
	}

	// 4. Apply (or not).
	r := &repair.Repairer{Deleter: s.Deleter("lvfsck repair", true, runID), Reloader: &repair.Reloader{
		Target: s.Target(), Clock: repair.RealClock{}, SampleFor: o.ioSample, SampleEvery: o.ioEvery,
		UnloadTimeout: o.unloadTimeout, RPCTimeout: o.timeout,
	}}
	// A plan with nothing to change is "applied" as is: its steps only
	// report what is left.
	var marked []string
	if yes && o.reload && !o.dryRun {
		marked = s.MarkReloads(ctx, plan, runID)
	}
	ar, aerr := r.Apply(ctx, plan, repair.ApplyOptions{Yes: yes || plan.Actionable() == 0, DryRun: o.dryRun,
		Reload: o.reload, Wait: o.wait, AllowExported: o.allowExported})
	for _, lvs := range marked {
		how := "ended"
		if errors.Is(aerr, repair.ErrReloadWedged) {
			how = "unload wedged: the target needs a restart"
		}
		s.EndReload(lvs, runID, how)
	}
	doc.Applied = (yes || plan.Actionable() == 0) && !o.dryRun && !errors.Is(aerr, repair.ErrNotConfirmed)
	code |= ar.ExitCode
	switch {
	case o.dryRun:
		text.WriteString("\nDry run: nothing was changed.\n")
	case doc.Applied && plan.Actionable() > 0:
		// Steps that change nothing were said in the plan already.
		text.WriteString("\nApplied:\n")
		if err := ar.Render(text); err != nil {
			return exitCode(report.ExitOperational, err)
		}
	}
	doc.Results = append(doc.Results, report.RepairStepResults(ar)...)
	switch {
	case errors.Is(aerr, repair.ErrReloadWedged):
		code |= report.ExitOperational
		fmt.Fprintf(text, "\nSTOPPED: %v.\nThe target needs a restart before anything else is sent to it; after the restart run `lvfsck repair --yes`.\n", aerr)
	case aerr != nil && !errors.Is(aerr, repair.ErrNotConfirmed):
		code |= report.ExitOperational
		fmt.Fprintf(text, "\nerror: %v\n", aerr)
	}
	if len(fs) == 0 && plan.Actionable() == 0 {
		text.WriteString("Consistent: nothing to repair.\n")
	}
	doc.Notes = append([]string{}, s.Notes()...)
	doc.Exit, doc.Meaning = code, report.ExitMeaning(code)
	if o.json {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		err = enc.Encode(doc)
	} else {
		fmt.Fprintf(text, "exit %d: %s\n", code, report.ExitMeaning(code))
		err = flush(out, text)
	}
	if err != nil {
		code |= report.ExitOperational
		return exitCode(code, fmt.Errorf("write report: %w", err))
	}
	if code != report.ExitOK {
		return exitCode(code, nil)
	}
	return nil
}

func flush(w io.Writer, b *strings.Builder) error {
	_, err := io.WriteString(w, b.String())
	b.Reset()
	return err
}

// confirm asks for the lvstore name (when the plan touches exactly one) or
// "yes". Anything else, or end of input, is a no.
func confirm(ctx context.Context, w io.Writer, r io.Reader, plan repair.RepairPlan) (bool, error) {
	var stores []string
	for _, st := range plan.Steps {
		if st.Changes() && st.Lvstore != "" && !slices.Contains(stores, st.Lvstore) {
			stores = append(stores, st.Lvstore)
		}
	}
	prompt := `Type "yes" to apply this plan: `
	if len(stores) == 1 {
		prompt = fmt.Sprintf("Type the lvstore name (%s) or \"yes\" to apply this plan: ", stores[0])
	}
	if _, err := io.WriteString(w, "\n"+prompt); err != nil {
		return false, err
	}
	// One line, bounded: a confirmation is a word. Read aside, so that
	// Ctrl-C (which the command catches) ends the wait.
	type answer struct {
		line string
		err  error
	}
	got := make(chan answer, 1)
	go func() {
		sc := bufio.NewScanner(io.LimitReader(r, 4096))
		if !sc.Scan() {
			got <- answer{err: cmp.Or(sc.Err(), io.EOF)}
			return
		}
		got <- answer{line: sc.Text()}
	}()
	select {
	case <-ctx.Done():
		return false, ctx.Err()
	case a := <-got:
		if a.err != nil {
			return false, a.err
		}
		ans := strings.TrimSpace(a.line)
		return ans == "yes" || (len(stores) == 1 && ans == stores[0]), nil
	}
}
