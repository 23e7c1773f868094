package repair

import (
	"cmp"
	"fmt"
	"io"
	"strings"
)

// describe says in one line what a step will do.
func describe(s Step, reload bool) string {
	t := s.Target()
	id := ""
	if s.LvolUUID != "" {
		id = " (uuid " + s.LvolUUID + ")"
	}
	switch s.Action {
	case ActionFinish:
		return fmt.Sprintf("verify the interrupted delete of %s%s against the live view and the disk, and record what really happened", t, id)
	case ActionDelete:
		return fmt.Sprintf("guarded delete of %s%s: it came back after a restart (%s); verified on disk", t, id, cmp.Or(s.Basis, unknownBasis))
	case ActionReloadDelete:
		if !reload {
			return fmt.Sprintf("%s%s is pending resurrection; --reload not confirmed: wait for the target's next restart, then repair", t, id)
		}
		return fmt.Sprintf("reload lvstore %s (bdev_aio_delete + bdev_aio_create of its base bdev) so that %s%s loads again, then guarded delete of it", orDash(s.Lvstore), t, id)
	case ActionWaitRestart:
		if s.Code == CodeHiddenZombie {
			return fmt.Sprintf("%s%s is a hidden zombie on a target with Longhorn's fix (pending resurrection): %s", t, id, s.Advice)
		}
		return fmt.Sprintf("%s%s is pending resurrection: %s", t, id, s.Advice)
	default:
		return fmt.Sprintf("%s %s %s: %s", s.Severity, s.Code, t, s.Advice)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Render writes the plan for --dry-run and the confirmation prompt.
func (p Plan) Render(w io.Writer) error {
	var b strings.Builder
	var act, wait, advice []Step
	for _, s := range p.Steps {
		switch {
		case s.Changes():
			act = append(act, s)
		case s.Action == ActionWaitRestart:
			wait = append(wait, s)
		default:
			advice = append(advice, s)
		}
	}
	if len(p.Steps) == 0 {
		b.WriteString("Nothing to repair.\n")
		_, err := io.WriteString(w, b.String())
		return err
	}
	fmt.Fprintf(&b, "Repair plan: %s, %d waiting for a restart, %d not repairable over RPC.\n", plural(len(act), "change", "changes"), len(wait), len(advice))
	if len(act) > 0 {
		b.WriteString("\nWill do, in order (every delete is guarded and verified on disk):\n")
		for i, s := range act {
			fmt.Fprintf(&b, "  %d. [%s] %s\n", i+1, s.Action, describe(s, p.Reload))
		}
	}
	reloads := false
	for _, s := range act {
		reloads = reloads || s.Action == ActionReloadDelete
	}
	if reloads {
		b.WriteString("\nReload guards: refused while any lvol of the lvstore is claimed or exported over NVMe-oF\n" +
			"(the unload drops namespaces silently), or while the base bdev shows I/O the lvols do not explain.\n" +
			"A quiet base bdev is not a proof that nothing holds a blob; if the unload does not answer in time,\n" +
			"lvfsck stops and tells you to restart the target.\n")
	}
	if len(wait) > 0 {
		b.WriteString("\nWaiting for a restart (nothing is done now):\n")
		for _, s := range wait {
			fmt.Fprintf(&b, "  - %s\n", describe(s, false))
		}
	}
	if len(advice) > 0 {
		b.WriteString("\nNot touched (lvfsck does not repair these over RPC):\n")
		for _, s := range advice {
			fmt.Fprintf(&b, "  - %s\n", describe(s, false))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Render writes what Apply did, step by step.
func (r ApplyResult) Render(w io.Writer) error {
	var b strings.Builder
	for i, sr := range r.Steps {
		outcome := string(sr.Outcome)
		if outcome == "" {
			outcome = string(sr.Step.Action)
		}
		fmt.Fprintf(&b, "%d. %s: %s\n", i+1, sr.Step.Target(), outcome)
		for _, m := range sr.Messages {
			fmt.Fprintf(&b, "   %s\n", m)
		}
		if sr.Err != nil {
			fmt.Fprintf(&b, "   error: %v\n", sr.Err)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// plural is "1 change", "2 changes".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
