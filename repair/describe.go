package repair

import (
	"cmp"
	"fmt"
)

// Describe says in one line what the step will do; reload: the operator
// confirmed --reload.
func (s Step) Describe(reload bool) string {
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

// plural is "1 change", "2 changes".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
